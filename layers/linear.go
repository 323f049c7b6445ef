package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// Linear is PyTorch's nn.Linear(In, Out) on the last axis of any input:
//
//	x [..., In] → y [..., Out]; weight [Out, In], bias [Out]
//
// On NHWC activations it is the 1×1 convolution (ConvNeXt's pwconv1/2, timm's
// mlp.fc1/fc2) and the classifier head.
type Linear struct {
	name         string
	be           kernels.Backend
	In, Out      int
	Weight, Bias *Param
	x            kernels.Tensor
	s            kernels.LinearShape
	out, dx, xlo Buffer // xlo holds a float32 input rounded to bf16
}

// NewLinear returns a Linear named name with ConvNeXt's weight init drawn by
// rng (zero when nil) and, if bias, a zero bias.
func NewLinear(be kernels.Backend, name string, in, out int, bias bool, rng *rand.Rand) (*Linear, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("layer %s (Linear): invalid sizes in=%d out=%d: %w", name, in, out, kernels.ErrShape)
	}
	l := &Linear{name: name, be: be, In: in, Out: out}
	var err error
	if l.Weight, err = NewParam(be, Join(name, "weight"), kernels.Shape{out, in}, true); err != nil {
		return nil, err
	}
	if err := initWeight(be, l.Weight, rng); err != nil {
		return nil, err
	}
	if bias {
		if l.Bias, err = NewParam(be, Join(name, "bias"), kernels.Shape{out}, false); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *Linear) Name() string { return l.name }

// Params returns weight and bias.
func (l *Linear) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Forward applies the layer to the last axis of x.
func (l *Linear) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	return l.forward(x, operandOf(l.Bias))
}

// forward is Forward with the bias operand given: the zero Tensor leaves
// the bias out of the product (a [FusedMLP] adds it in its own pass).
func (l *Linear) forward(x, bias kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != l.In {
		return kernels.Tensor{}, ShapeError(l.name, "Linear", "forward", x.Shape, fmt.Sprintf("[... %d]", l.In))
	}
	s := kernels.LinearShape{Rows: x.Len() / l.In, In: l.In, Out: l.Out}
	ys := x.Shape.Clone()
	ys[len(ys)-1] = l.Out
	y, err := l.out.GetAct(l.be, ys)
	if err == nil {
		x, err = l.xlo.GEMMInput(l.be, x)
	}
	if err == nil {
		err = l.be.Linear(y, x, l.Weight.Operand(), bias, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Linear", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates weight and bias gradients and returns dx.
func (l *Linear) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	return l.backward(dy, GradOf(l.Bias))
}

// backward is Backward with the bias gradient given: the zero Tensor
// leaves it to the caller (a [FusedMLP] sums it in its own pass).
func (l *Linear) backward(dy, db kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "Linear", "backward", ErrNoForward)
	}
	if dy.Len() != l.s.Rows*l.Out || dy.Shape[len(dy.Shape)-1] != l.Out {
		return kernels.Tensor{}, ShapeError(l.name, "Linear", "backward", dy.Shape, fmt.Sprintf("%d rows of %d", l.s.Rows, l.Out))
	}
	dx, err := l.dx.GetAct(l.be, l.x.Shape)
	if err == nil {
		err = l.be.LinearBackward(dx, l.Weight.Grad, db, dy, l.x, l.Weight.Operand(), l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Linear", "backward", err)
	}
	return dx, nil
}
