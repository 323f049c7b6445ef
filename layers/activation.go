package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// Activation is an elementwise activation without parameters, one of
// ReLU, ReLU6, SiLU, Hardswish, Hardsigmoid and Sigmoid with PyTorch's
// definitions and PyTorch's derivatives at the kinks (see
// kernels.ActivationKind). x, y have any shape.
type Activation struct {
	name    string
	be      kernels.Backend
	Kind    kernels.ActivationKind
	x       kernels.Tensor
	out, dx Buffer
}

// NewActivation returns an activation layer of the given kind. It returns an
// error naming the layer for an unknown kind.
func NewActivation(be kernels.Backend, name string, kind kernels.ActivationKind) (*Activation, error) {
	if err := kind.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s (Activation): %w", name, err)
	}
	return &Activation{name: name, be: be, Kind: kind}, nil
}

// Name returns the layer's dotted path.
func (l *Activation) Name() string { return l.name }

// Params returns nil: activations have no parameters.
func (l *Activation) Params() []*Param { return nil }

// Forward computes f(x).
func (l *Activation) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	y, err := l.out.Get(l.be, x.Shape)
	if err == nil {
		err = l.be.Activation(y, x, l.Kind)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, l.Kind.String(), "forward", err)
	}
	l.x = x
	return y, nil
}

// Backward returns dx = dy·f'(x).
func (l *Activation) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, l.Kind.String(), l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.ActivationBackward(dx, dy, l.x, l.Kind)
	})
}

// Describe: the output, under the kind's name (ReLU, SiLU, ...).
func (l *Activation) Describe(in kernels.Shape) (Info, error) {
	return Info{Kind: l.Kind.String(), Out: in.Clone(), Saved: int64(in.Len())}, nil
}
