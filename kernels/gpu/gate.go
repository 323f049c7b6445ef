package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// ChannelGate computes y[n,hw,c] = x[n,hw,c]·gate(g[n,c]) for
// [kernels.GateShape] s (channel_gate_fwd_f32): x, y [N, HW, C], g [N, C],
// the gate in float64 rounded once like the CPU backend. y may alias x, not
// g. It returns an error wrapping kernels.ErrShape for an invalid s or a
// missing, mis-sized or oversized tensor, kernels.ErrDType for a tensor that
// is not this backend's device memory.
func (b *Backend) ChannelGate(y, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "gpu channel gate"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(y, x, g, kernels.Tensor{}, kernels.Tensor{}, false)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	return b.launch("channel_gate_fwd_f32", streamGrid(x.Len()), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).
		Ptr(ptr(g)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)).Int32(int32(s.Gate)))
}

// ChannelGateBackward overwrites dx [N, HW, C] = dy·gate(g) (nil skips it)
// and dg [N, C] = gate'(g)·Σ_hw dy·x, summed in float64 in hw order
// (channel_gate_bwd_f32, one thread per (n, c)). Errors as for
// ChannelGate.
func (b *Backend) ChannelGateBackward(dx, dg, dy, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "gpu channel gate backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(dy, x, g, dx, dg, true)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	return b.launch("channel_gate_bwd_f32", dim1(blocks(s.N*s.C, streamThreads)), dim1(streamThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dg)).Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(g)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)).Int32(int32(s.Gate)))
}
