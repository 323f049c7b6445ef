package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// MaxPool writes the maxima of each K×K window of x [N, H, W, C] (stride
// s.Stride, padding s.Pad that never wins; the first maximum in window
// order wins a tie, a NaN wins over numbers) into y [N, OH, OW, C]
// (maxpool_fwd_f32, or maxpool_fwd_bf16 on bf16 x and y; PyTorch's
// nn.MaxPool2d). It returns an error wrapping kernels.ErrShape for an
// invalid s or a missing, mis-sized or oversized tensor, kernels.ErrDType
// for a tensor that is not this backend's device memory or for mixed
// activation dtypes.
func (b *Backend) MaxPool(y, x kernels.Tensor, s kernels.MaxPoolShape) error {
	const op = "gpu maxpool"
	dt, err := checkMaxPool(op, s, kernels.Arg{Name: "x", T: x}, kernels.Arg{Name: "y", T: y})
	if err != nil {
		return err
	}
	return b.launch(kernelFor("maxpool_fwd", dt), streamGrid(y.Len()), dim1(streamThreads), 0,
		maxPoolArgs(b.args().Ptr(ptr(y)).Ptr(ptr(x)), s))
}

// MaxPoolBackward overwrites dx [N, H, W, C] with dy [N, OH, OW, C] routed
// to each window's winner in x, as MaxPool picks it, summed where windows
// overlap in row-major output order (maxpool_bwd_f32: each dx element
// gathers from its windows, no atomics, equal to kernels/cpu bit for bit).
// Errors as for MaxPool.
func (b *Backend) MaxPoolBackward(dx, dy, x kernels.Tensor, s kernels.MaxPoolShape) error {
	const op = "gpu maxpool backward"
	dt, err := checkMaxPool(op, s, kernels.Arg{Name: "x", T: x}, kernels.Arg{Name: "dy", T: dy}, kernels.Arg{Name: "dx", T: dx})
	if err != nil {
		return err
	}
	return b.launch(kernelFor("maxpool_bwd", dt), streamGrid(dx.Len()), dim1(streamThreads), 0,
		maxPoolArgs(b.args().Ptr(ptr(dx)).Ptr(ptr(dy)).Ptr(ptr(x)), s))
}

// checkMaxPool validates s, gives each argument its shape (x and dx the
// input's, y and dy the output's), checks them (checkActs) and that the
// input fits the kernels' 32-bit indexing; it returns the activation dtype.
func checkMaxPool(op string, s kernels.MaxPoolShape, args ...kernels.Arg) (kernels.DType, error) {
	if err := s.Validate(); err != nil {
		return 0, fmt.Errorf("%s %+v: %w", op, s, err)
	}
	oh, ow := s.Out()
	for i := range args {
		args[i].Want = kernels.Shape{s.N, s.H, s.W, s.C}
		if args[i].Name == "y" || args[i].Name == "dy" {
			args[i].Want = kernels.Shape{s.N, oh, ow, s.C}
		}
	}
	dt, err := checkActs(op, args)
	if err != nil {
		return 0, err
	}
	return dt, fits32(op, s.N*s.H*s.W*s.C)
}

// maxPoolArgs appends the shape arguments N, H, W, C, K, S, P, OH, OW that
// the maxpool kernels take after their pointers.
func maxPoolArgs(a *cuda.Args, s kernels.MaxPoolShape) *cuda.Args {
	oh, ow := s.Out()
	for _, v := range []int{s.N, s.H, s.W, s.C, s.K, s.Stride, s.Pad, oh, ow} {
		a = a.Int32(int32(v))
	}
	return a
}
