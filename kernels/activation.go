package kernels

import (
	"fmt"
	"strings"
)

// PointwiseOps are the elementwise activations of MobileNet and EfficientNet
// blocks, selected by an [ActivationKind].
type PointwiseOps interface {
	// Activation computes y = f(x) elementwise for the activation kind;
	// x and y have the same number of elements (any shape) and y may alias
	// x. NaN gives NaN. It returns an error wrapping ErrShape for missing
	// or mis-sized tensors, or an error for an unknown kind.
	Activation(y, x Tensor, kind ActivationKind) error
	// ActivationBackward overwrites dx = dy·f'(x), with f' at the kinks as
	// PyTorch's backward defines it (see [ActivationKind]); dx may alias dy.
	// Errors as for Activation.
	ActivationBackward(dx, dy, x Tensor, kind ActivationKind) error
}

// ActivationKind selects an elementwise activation with PyTorch's definition
// (torch.nn.functional) and PyTorch's derivative at its kinks (aten's
// threshold_backward, hardtanh_backward, hardswish_backward and
// hardsigmoid_backward kernels).
type ActivationKind uint8

const (
	// ReLU is max(x, 0); f' = 1 for x > 0, else 0 (0 at x = 0).
	ReLU ActivationKind = iota
	// ReLU6 is min(max(x, 0), 6); f' = 1 for 0 < x < 6, else 0 (0 at 0
	// and at 6).
	ReLU6
	// SiLU (swish, Ramachandran et al. 2017; Elfwing et al. 2018) is
	// x·σ(x); f' = σ(x)·(1 + x·(1 − σ(x))).
	SiLU
	// Hardswish (MobileNetV3, Howard et al. 2019) is x·ReLU6(x + 3)/6;
	// f' = 0 for x < −3, x/3 + 1/2 for −3 <= x <= 3, 1 for x > 3 (so
	// −1/2 at −3 and 3/2 at 3, as PyTorch's scalar CPU and CUDA kernels
	// compute it; PyTorch 1.13's vectorized CPU kernel gives 1 at 3).
	Hardswish
	// Hardsigmoid is ReLU6(x + 3)/6; f' = 1/6 for −3 < x < 3, else 0 (0 at
	// ±3).
	Hardsigmoid
	// Sigmoid is σ(x) = 1/(1 + e^−x); f' = σ(x)·(1 − σ(x)).
	Sigmoid
)

// activationNames are the kinds' names, as PyTorch's modules spell them.
var activationNames = [...]string{ReLU: "ReLU", ReLU6: "ReLU6", SiLU: "SiLU", Hardswish: "Hardswish", Hardsigmoid: "Hardsigmoid", Sigmoid: "Sigmoid"}

// String returns the PyTorch module name of k ("ReLU", "SiLU", ...), or
// "ActivationKind(n)" for an unknown value.
func (k ActivationKind) String() string {
	if int(k) < len(activationNames) {
		return activationNames[k]
	}
	return fmt.Sprintf("ActivationKind(%d)", uint8(k))
}

// Validate returns an error naming k unless it is one of the kinds above.
func (k ActivationKind) Validate() error {
	if int(k) < len(activationNames) {
		return nil
	}
	return fmt.Errorf("unknown activation kind %d (want ReLU, ReLU6, SiLU, Hardswish, Hardsigmoid or Sigmoid)", uint8(k))
}

// ParseActivation returns the kind whose String (or its lower-case form, as
// configuration files write it: "relu", "silu", "hardswish") is name.
func ParseActivation(name string) (ActivationKind, error) {
	for k, n := range activationNames {
		if name == n || name == strings.ToLower(n) {
			return ActivationKind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want relu, relu6, silu, hardswish, hardsigmoid or sigmoid)", name)
}
