package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// Activation computes y = f(x) elementwise for kind (ReLU, ReLU6, SiLU,
// Hardswish, Hardsigmoid, Sigmoid with PyTorch's definitions; see
// kernels.ActivationKind) for any shape; y may alias x. Each value is
// computed in float64 (math.Exp for SiLU and Sigmoid) and rounded once, so
// the float32 backend is correctly rounded to within an ulp. NaN gives NaN,
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
// −3 and 3). dx may alias dy or x. Errors as for Activation.
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
	f := activationFunc(kind)
	b.parallelFor(len(x), activationCost(kind), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			y[lo+i] = T(f(float64(v)))
		}
	})
}

func activationBackward[T Float](b *Backend, dx, dy, x []T, kind kernels.ActivationKind) {
	d := activationGrad(kind)
	b.parallelFor(len(x), activationCost(kind), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			dx[lo+i] = T(float64(dy[lo+i]) * d(float64(v)))
		}
	})
}

// sigmoid returns 1/(1 + e^−x); it saturates to 0 and 1 without overflow
// trouble (e^−x = +Inf gives 0).
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// activationFunc returns f for kind. The comparisons are written so that a
// NaN x falls through to an expression of x and stays NaN.
func activationFunc(kind kernels.ActivationKind) func(float64) float64 {
	switch kind {
	case kernels.ReLU:
		return func(x float64) float64 {
			if x <= 0 {
				return 0
			}
			return x
		}
	case kernels.ReLU6:
		return func(x float64) float64 { return relu6(x) }
	case kernels.SiLU:
		return func(x float64) float64 { return x * sigmoid(x) }
	case kernels.Hardswish:
		return func(x float64) float64 { return x * relu6(x+3) / 6 }
	case kernels.Hardsigmoid:
		return func(x float64) float64 { return relu6(x+3) / 6 }
	default: // Sigmoid
		return sigmoid
	}
}

// relu6 returns min(max(x, 0), 6), NaN for NaN.
func relu6(x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 6 {
		return 6
	}
	return x
}

// activationGrad returns f' for kind with PyTorch's values at the kinks
// (aten's threshold_backward, hardtanh_backward, hardswish_backward and
// hardsigmoid_backward).
func activationGrad(kind kernels.ActivationKind) func(float64) float64 {
	switch kind {
	case kernels.ReLU:
		return func(x float64) float64 { return step(x > 0) }
	case kernels.ReLU6:
		return func(x float64) float64 { return step(x > 0 && x < 6) }
	case kernels.SiLU:
		return func(x float64) float64 {
			s := sigmoid(x)
			return s * (1 + x*(1-s))
		}
	case kernels.Hardswish:
		return func(x float64) float64 {
			switch {
			case x < -3:
				return 0
			case x <= 3:
				return x/3 + 0.5
			}
			return 1
		}
	case kernels.Hardsigmoid:
		return func(x float64) float64 { return step(x > -3 && x < 3) / 6 }
	default: // Sigmoid
		return func(x float64) float64 {
			s := sigmoid(x)
			return s * (1 - s)
		}
	}
}

// step returns 1 for true and 0 for false.
func step(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
