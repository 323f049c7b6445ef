package layers

import (
	"github.com/nextconv/nextconv/kernels"
)

// Sequential runs its layers one after another; Backward runs them in
// reverse.
type Sequential struct {
	name   string
	Layers []Layer
}

// NewSequential returns a Sequential named name over layers.
func NewSequential(name string, layers ...Layer) *Sequential {
	return &Sequential{name: name, Layers: layers}
}

// Name returns the container's dotted path.
func (s *Sequential) Name() string { return s.name }

// Children returns the layers in execution order.
func (s *Sequential) Children() []Layer { return s.Layers }

// Params returns every layer's parameters in order.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Forward feeds x through every layer.
func (s *Sequential) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	var err error
	for _, l := range s.Layers {
		if x, err = l.Forward(x); err != nil {
			return kernels.Tensor{}, err
		}
	}
	return x, nil
}

// Backward feeds dy back through every layer in reverse order.
func (s *Sequential) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	var err error
	for i := len(s.Layers) - 1; i >= 0; i-- {
		if dy, err = s.Layers[i].Backward(dy); err != nil {
			return kernels.Tensor{}, err
		}
	}
	return dy, nil
}
