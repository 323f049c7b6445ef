package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// actThreads is the block size of the elementwise activation kernels.
const actThreads = 256

// Activation computes y = f(x) elementwise for kind (ReLU, ReLU6, SiLU,
// Hardswish, Hardsigmoid, Sigmoid with PyTorch's definitions; kernel
// act_fwd_f32, kernels/src/activation.cu) for any shape; y may alias x.
// NaN gives NaN. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType for missing, mis-sized or host tensors or more than
// 2³¹ − 1 elements, an error for an unknown kind, or the driver's error.
func (b *Backend) Activation(y, x kernels.Tensor, kind kernels.ActivationKind) error {
	const op = "gpu activation"
	if err := actCheck(op, kind, kernels.Arg{Name: "x", T: x, Want: x.Shape}, kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	n := x.Len()
	return b.launch("act_fwd_f32", dim1(blocks(n, actThreads)), dim1(actThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Int32(int32(n)).Int32(int32(kind)))
}

// ActivationBackward overwrites dx = dy·f'(x) for kind, with PyTorch's
// derivative at the kinks (kernels.ActivationKind; kernel act_bwd_f32); dx
// may alias dy. Errors as for Activation.
func (b *Backend) ActivationBackward(dx, dy, x kernels.Tensor, kind kernels.ActivationKind) error {
	const op = "gpu activation backward"
	if err := actCheck(op, kind, kernels.Arg{Name: "x", T: x, Want: x.Shape},
		kernels.Arg{Name: "dy", T: dy, Want: x.Shape}, kernels.Arg{Name: "dx", T: dx, Want: x.Shape}); err != nil {
		return err
	}
	n := x.Len()
	return b.launch("act_bwd_f32", dim1(blocks(n, actThreads)), dim1(actThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Ptr(ptr(x)).Int32(int32(n)).Int32(int32(kind)))
}

// actCheck validates kind, the tensors and the kernels' 32-bit size.
func actCheck(op string, kind kernels.ActivationKind, args ...kernels.Arg) error {
	if err := kind.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := checkArgs(op, args...); err != nil {
		return err
	}
	return normFitsInt32(op, args[0].T.Shape, args[0].T.Len())
}
