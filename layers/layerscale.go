package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// LayerScale multiplies each channel by a learnable factor (Touvron et al.
// 2021, CaiT; ConvNeXt V1's per-block gamma): y[..., c] = gamma[c]·x[..., c],
// x, y [..., C], gamma [C] initialised to a small constant (1e-6 in V1).
type LayerScale struct {
	name    string
	be      kernels.Backend
	C       int
	Gamma   *Param
	x       kernels.Tensor
	out, dx Buffer
}

// NewLayerScale returns a LayerScale over c channels whose parameter is
// named paramName (ConvNeXt V1: "<block>.gamma") and filled with init.
func NewLayerScale(be kernels.Backend, name, paramName string, c int, init float32) (*LayerScale, error) {
	if c <= 0 {
		return nil, fmt.Errorf("layer %s (LayerScale): invalid c=%d: %w", name, c, kernels.ErrShape)
	}
	l := &LayerScale{name: name, be: be, C: c}
	var err error
	if l.Gamma, err = NewParam(be, paramName, kernels.Shape{c}, false); err != nil {
		return nil, err
	}
	if err := Fill(be, l.Gamma, init); err != nil {
		return nil, err
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *LayerScale) Name() string { return l.name }

// Params returns gamma.
func (l *LayerScale) Params() []*Param { return []*Param{l.Gamma} }

// Forward scales the channels of x [..., C].
func (l *LayerScale) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, "LayerScale", "forward", x.Shape, fmt.Sprintf("[... %d]", l.C))
	}
	y, err := l.out.GetAct(l.be, x.Shape)
	if err == nil {
		err = l.be.ChannelScale(y, x, l.Gamma.Value)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "LayerScale", "forward", err)
	}
	l.x = x
	return y, nil
}

// Backward accumulates gamma's gradient and returns dx = gamma·dy.
func (l *LayerScale) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "LayerScale", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.ChannelScaleBackward(dx, l.Gamma.Grad, dy, l.x, l.Gamma.Value)
	})
}
