package layers

import (
	"github.com/nextconv/nextconv/kernels"
)

// GELU is the Gaussian error linear unit, elementwise (Hendrycks & Gimpel
// 2016); Approx chooses PyTorch's exact erf form (ConvNeXt's) or its tanh
// approximation. x, y have any shape.
type GELU struct {
	name    string
	be      kernels.Backend
	Approx  kernels.GELUApprox
	x       kernels.Tensor
	out, dx Buffer
}

// NewGELU returns a GELU layer.
func NewGELU(be kernels.Backend, name string, approx kernels.GELUApprox) *GELU {
	return &GELU{name: name, be: be, Approx: approx}
}

// Name returns the layer's dotted path.
func (l *GELU) Name() string { return l.name }

// Params returns nil: GELU has no parameters.
func (l *GELU) Params() []*Param { return nil }

// Forward computes GELU(x).
func (l *GELU) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	y, err := l.out.GetAct(l.be, x.Shape)
	if err == nil {
		err = l.be.GELU(y, x, l.Approx)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "GELU", "forward", err)
	}
	l.x = x
	return y, nil
}

// Backward returns dx = dy·GELU'(x).
func (l *GELU) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "GELU", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.GELUBackward(dx, dy, l.x, l.Approx)
	})
}
