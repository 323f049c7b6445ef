package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// AvgPool averages x [N, HW, C] over its HW spatial positions into y [N, C]
// (avgpool_fwd_f32, or avgpool_fwd_bf16 on bf16 x and y; global average
// pooling before the head), summing in float64 like the CPU backend. It returns an error wrapping
// kernels.ErrShape for an invalid s or a missing, mis-sized or oversized
// tensor, kernels.ErrDType for a tensor that is not this backend's device
// memory.
func (b *Backend) AvgPool(y, x kernels.Tensor, s kernels.PoolShape) error {
	const op = "gpu avgpool"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	dt, err := checkActs(op, []kernels.Arg{{Name: "x", T: x, Want: kernels.Shape{s.N, s.HW, s.C}},
		{Name: "y", T: y, Want: kernels.Shape{s.N, s.C}}})
	if err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	outputs := s.N * s.C // one a thread; avgpool_fwd_bf16 takes 8 channels a thread
	if dt == kernels.BFloat16 {
		outputs = s.N * blocks(s.C, 8)
	}
	return b.launch(kernelFor("avgpool_fwd", dt), dim1(blocks(outputs, streamThreads)), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)))
}

// AvgPoolBackward overwrites dx [N, HW, C] with dy[n, c]/HW
// (avgpool_bwd_f32, or avgpool_bwd_bf16 on bf16 dx and dy), the gradient
// of AvgPool. Errors as for AvgPool.
func (b *Backend) AvgPoolBackward(dx, dy kernels.Tensor, s kernels.PoolShape) error {
	const op = "gpu avgpool backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	dt, err := checkActs(op, []kernels.Arg{{Name: "dy", T: dy, Want: kernels.Shape{s.N, s.C}},
		{Name: "dx", T: dx, Want: kernels.Shape{s.N, s.HW, s.C}}})
	if err != nil {
		return err
	}
	if err := fits32(op, dx.Len()); err != nil {
		return err
	}
	return b.launch(kernelFor("avgpool_bwd", dt), streamGridFor(dx.Len(), dt), dim1(streamThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)))
}
