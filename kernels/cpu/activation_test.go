package cpu_test

import (
	"errors"
	"math"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// activationKinds are the kinds in the golden file, by their lower-case names.
var activationKinds = []string{"relu", "relu6", "silu", "hardswish", "hardsigmoid", "sigmoid"}

// TestGoldenActivation matches every activation kind, forward and backward,
// against PyTorch on inputs that include the kinks (0 and 6 for ReLU6, ±3
// for Hardswish and Hardsigmoid) and saturated values (±100), with the
// outputs aliasing the inputs too.
func TestGoldenActivation(t *testing.T) {
	runGolden(t, "activation", func(c *goldenCase) {
		shape := []int{4, 3, 5, 7}
		for _, name := range activationKinds {
			kind, err := kernels.ParseActivation(name)
			c.ok(err)
			x, dy := c.in("x", shape...), c.in("dy", shape...)
			y, dx := c.out(shape...), c.out(shape...)
			c.ok(c.be.Activation(y, x, kind))
			c.check("y_"+name, y, c.fwd)
			c.ok(c.be.ActivationBackward(dx, dy, x, kind))
			c.check("dx_"+name, dx, c.grad)
			c.ok(c.be.ActivationBackward(dy, dy, x, kind)) // dx aliases dy
			c.check("dx_"+name, dy, c.grad)
			c.ok(c.be.Activation(x, x, kind)) // y aliases x
			c.check("y_"+name, x, c.fwd)
		}
	})
}

// TestActivationKinks pins the derivative at each kink to PyTorch's value,
// independently of the golden file: ReLU 0 at 0, ReLU6 0 at 0 and 6,
// Hardswish −1/2 at −3 and 3/2 at 3, Hardsigmoid 0 at ±3.
func TestActivationKinks(t *testing.T) {
	be := cpu.New()
	cases := []struct {
		kind kernels.ActivationKind
		x    float32
		want float32
	}{
		{kernels.ReLU, 0, 0}, {kernels.ReLU6, 0, 0}, {kernels.ReLU6, 6, 0}, {kernels.ReLU6, 5.5, 1},
		{kernels.Hardswish, -3, -0.5}, {kernels.Hardswish, 3, 1.5}, {kernels.Hardswish, 3.001, 1},
		{kernels.Hardsigmoid, -3, 0}, {kernels.Hardsigmoid, 3, 0}, {kernels.Hardsigmoid, 0, 1.0 / 6},
		{kernels.SiLU, 0, 0.5}, {kernels.Sigmoid, 0, 0.25},
	}
	for _, tc := range cases {
		got := runActivation(t, be, tc.kind, tc.x, true)
		if got != tc.want {
			t.Errorf("%v'(%v) = %v, want %v", tc.kind, tc.x, got, tc.want)
		}
	}
}

// TestActivationNaN checks that NaN input gives NaN output for every kind
// (as in PyTorch) instead of being clamped away, and that the backward
// does not fail.
func TestActivationNaN(t *testing.T) {
	be := cpu.New()
	nan := float32(math.NaN())
	for _, name := range activationKinds {
		kind, _ := kernels.ParseActivation(name)
		if y := runActivation(t, be, kind, nan, false); !math.IsNaN(float64(y)) {
			t.Errorf("%v(NaN) = %v, want NaN", kind, y)
		}
		runActivation(t, be, kind, nan, true)
	}
}

// runActivation returns f(x) or, with grad, f'(x) (dy = 1) for one element.
func runActivation(t *testing.T, be *cpu.Backend, kind kernels.ActivationKind, x float32, grad bool) float32 {
	t.Helper()
	xt, _ := be.Alloc(kernels.Shape{1})
	out, _ := be.Alloc(kernels.Shape{1})
	xt.Host32()[0] = x
	var err error
	if grad {
		dy, _ := be.Alloc(kernels.Shape{1})
		dy.Host32()[0] = 1
		err = be.ActivationBackward(out, dy, xt, kind)
	} else {
		err = be.Activation(out, xt, kind)
	}
	if err != nil {
		t.Fatalf("%v: %v", kind, err)
	}
	return out.Host32()[0]
}

// TestActivationErrors checks the errors for an unknown kind, an unknown
// name and mismatched tensors.
func TestActivationErrors(t *testing.T) {
	be := cpu.New()
	x, _ := be.Alloc(kernels.Shape{2, 3})
	y, _ := be.Alloc(kernels.Shape{5})
	if err := be.Activation(x, x, kernels.ActivationKind(99)); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := kernels.ParseActivation("gelu6"); err == nil {
		t.Error("unknown name accepted")
	}
	if err := be.Activation(y, x, kernels.ReLU); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("mis-sized y: %v, want ErrShape", err)
	}
	if err := be.ActivationBackward(x, y, x, kernels.SiLU); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("mis-sized dy: %v, want ErrShape", err)
	}
}
