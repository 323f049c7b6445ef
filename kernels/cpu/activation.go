package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// Activation computes y = f(x) elementwise for kind (ReLU, ReLU6, SiLU,
// Hardswish, Hardsigmoid, Sigmoid with PyTorch's definitions; see
// kernels.ActivationKind) for any shape; y may alias x. The piecewise
// kinds compute in the backend's precision with PyTorch's operations;
// SiLU and Sigmoid in float64 (expTable on the float32 backend, math.Exp on
// the float64 one), rounded once. NaN gives NaN,
// as in PyTorch. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType for missing, mis-sized or foreign tensors, or an error
// for an unknown kind.
func (b *Backend) Activation(y, x kernels.Tensor, kind kernels.ActivationKind) error {
	const op = "cpu activation"
	if err := kind.Validate(); err != nil {
		return shapeErr(op, kind, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}, kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		activation(b, host[float64](y), host[float64](x), kind)
	} else {
		activation(b, host[float32](y), host[float32](x), kind)
	}
	return nil
}

// ActivationBackward overwrites dx = dy·f'(x) for kind, with the derivative
// at the kinks that PyTorch's backward kernels use (0 for ReLU at 0, for
// ReLU6 at 0 and 6 and for Hardsigmoid at ±3; −1/2 and 3/2 for Hardswish at
// −3 and 3). The gradient is dy times f'(x), so a NaN or infinite dy gives
// NaN even where f' = 0 (PyTorch selects 0 there); the CUDA backend does
// the same. dx may alias dy or x. Errors as for Activation.
func (b *Backend) ActivationBackward(dx, dy, x kernels.Tensor, kind kernels.ActivationKind) error {
	const op = "cpu activation backward"
	if err := kind.Validate(); err != nil {
		return shapeErr(op, kind, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape},
		kernels.Arg{Name: "dy", T: dy, Want: x.Shape}, kernels.Arg{Name: "dx", T: dx, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		activationBackward(b, host[float64](dx), host[float64](dy), host[float64](x), kind)
	} else {
		activationBackward(b, host[float32](dx), host[float32](dy), host[float32](x), kind)
	}
	return nil
}

// activationCost is the work per element in parallelFor's unit: an
// exponential costs about as much as streaming 20 elements.
func activationCost(kind kernels.ActivationKind) int {
	if kind == kernels.SiLU || kind == kernels.Sigmoid {
		return 20
	}
	return 2
}

func activation[T Float](b *Backend, y, x []T, kind kernels.ActivationKind) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), activationCost(kind), func(lo, hi int) {
		activationSlice(y[lo:hi], x[lo:hi], kind, fast)
	})
}

func activationBackward[T Float](b *Backend, dx, dy, x []T, kind kernels.ActivationKind) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), activationCost(kind), func(lo, hi int) {
		activationGradSlice(dx[lo:hi], dy[lo:hi], x[lo:hi], kind, fast)
	})
}

// activationSlice writes y[i] = f(x[i]); y may alias x. The piecewise
// kinds compute in T, with PyTorch's operations in PyTorch's order (so the
// float32 backend rounds as PyTorch's float32 kernels do); SiLU and Sigmoid
// in float64 (sigmoid). Comparisons are written so that NaN falls through
// to an expression of x and stays NaN.
func activationSlice[T Float](y, x []T, kind kernels.ActivationKind, fast bool) {
	y = y[:len(x)]
	switch kind {
	case kernels.ReLU:
		for i, v := range x {
			y[i] = max(v, 0) // Go's max returns NaN for a NaN operand
		}
	case kernels.ReLU6:
		for i, v := range x {
			y[i] = relu6(v)
		}
	case kernels.SiLU:
		for i, v := range x {
			f := float64(v)
			y[i] = T(f * sigmoid(f, fast))
		}
	case kernels.Hardswish:
		for i, v := range x {
			y[i] = v * relu6(v+3) / 6
		}
	case kernels.Hardsigmoid:
		for i, v := range x {
			y[i] = relu6(v+3) / 6
		}
	default: // Sigmoid
		for i, v := range x {
			y[i] = T(sigmoid(float64(v), fast))
		}
	}
}

// activationGradSlice writes dx[i] = dy[i]·f'(x[i]) with PyTorch's values
// at the kinks (aten's threshold_backward, hardtanh_backward and the scalar
// hardswish_backward and hardsigmoid_backward); dx may alias dy or x.
func activationGradSlice[T Float](dx, dy, x []T, kind kernels.ActivationKind, fast bool) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	switch kind {
	case kernels.ReLU:
		for i, v := range x {
			dx[i] = dy[i] * step[T](v > 0)
		}
	case kernels.ReLU6:
		for i, v := range x {
			dx[i] = dy[i] * (step[T](v > 0) * step[T](v < 6))
		}
	case kernels.SiLU:
		for i, v := range x {
			f := float64(v)
			s := sigmoid(f, fast)
			dx[i] = T(float64(dy[i]) * (s * (1 + f*(1-s))))
		}
	case kernels.Hardswish:
		for i, v := range x {
			switch {
			case v < -3:
				dx[i] = 0
			case v <= 3:
				dx[i] = dy[i] * (v/3 + 0.5)
			default:
				dx[i] = dy[i]
			}
		}
	case kernels.Hardsigmoid:
		const sixth = 1.0 / 6
		for i, v := range x {
			dx[i] = dy[i] * (step[T](v > -3) * step[T](v < 3) * sixth)
		}
	default: // Sigmoid
		for i, v := range x {
			s := sigmoid(float64(v), fast)
			dx[i] = T(float64(dy[i]) * (s * (1 - s)))
		}
	}
}

// relu6 returns min(max(x, 0), 6), NaN for NaN (Go's min and max return
// NaN for a NaN operand, and compile to branch-free code: ReLU's sign is
// a coin flip on real activations, which a branch predictor cannot learn).
func relu6[T Float](x T) T { return min(max(x, 0), 6) }

// sigmoid returns 1/(1 + e^−x), NaN for NaN. fast (the float32 backend)
// takes e^−x from expTable (relative error below 6e-10, far below float32
// rounding) for |x| <= 700; otherwise, and beyond, math.Exp, which
// saturates (e^−x = +Inf gives 0, so SiLU(−Inf) = −Inf·0 is NaN as in
// PyTorch).
func sigmoid(x float64, fast bool) float64 {
	if fast && x >= -expClamp && x <= expClamp {
		return 1 / (1 + expTable(-x))
	}
	return 1 / (1 + math.Exp(-x))
}

// step returns 1 for true and 0 for false, through an integer so that it
// compiles to a flag move instead of a branch (see relu6).
func step[T Float](b bool) T {
	var i int32
	if b {
		i = 1
	}
	return T(i)
}
