package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// Reshape views its input [N, ...] as [N, Trailing...] without moving data
// (PyTorch's view/flatten): MobileNetV4's head runs its 1×1 convolution on
// the pooled [N, C] seen as [N, 1, 1, C], and flattens it back for the
// classifier. The element count per sample must match.
type Reshape struct {
	name     string
	Trailing kernels.Shape
	in       kernels.Shape
}

// NewReshape returns a Reshape named name to [N, trailing...].
func NewReshape(name string, trailing ...int) *Reshape {
	return &Reshape{name: name, Trailing: trailing}
}

// Name returns the layer's dotted path.
func (l *Reshape) Name() string { return l.name }

// Params returns nil: a view has none.
func (l *Reshape) Params() []*Param { return nil }

// Forward returns x viewed as [N, Trailing...]; it returns an error wrapping
// kernels.ErrShape when the per-sample sizes differ.
func (l *Reshape) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	if len(x.Shape) == 0 {
		return kernels.Tensor{}, ShapeError(l.name, "Reshape", "forward", x.Shape, "[N ...]")
	}
	y, err := x.Reshape(append(kernels.Shape{x.Shape[0]}, l.Trailing...))
	if err != nil {
		return kernels.Tensor{}, ShapeError(l.name, "Reshape", "forward", x.Shape, fmt.Sprintf("[N] + %d elements per sample", l.Trailing.Len()))
	}
	l.in = x.Shape.Clone()
	return y, nil
}

// Backward returns dy viewed in the forward input's shape.
func (l *Reshape) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	if l.in == nil {
		return kernels.Tensor{}, LayerError(l.name, "Reshape", "backward", ErrNoForward)
	}
	dx, err := dy.Reshape(l.in)
	if err != nil {
		return kernels.Tensor{}, ShapeError(l.name, "Reshape", "backward", dy.Shape, l.in.String())
	}
	return dx, nil
}
