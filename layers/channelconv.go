package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// ChannelConv is ECA's 1-D convolution across the channels of pooled
// features (kernels.ChannelConv; timm's EcaModule conv, nn.Conv1d(1, 1, K,
// padding=(K−1)/2, bias=False)):
//
//	x [N, 1, 1, C] → y [N, 1, 1, C]; weight [1, 1, K]
type ChannelConv struct {
	name    string
	be      kernels.Backend
	C, K    int
	Weight  *Param
	x       kernels.Tensor
	s       kernels.ChannelConvShape
	out, dx Buffer
}

// NewChannelConv returns a ChannelConv named name over c channels with a
// zero weight of odd size k (weight decay applies, as to any conv weight).
// It returns an error wrapping kernels.ErrShape unless c and k are positive
// and k is odd.
func NewChannelConv(be kernels.Backend, name string, c, k int) (*ChannelConv, error) {
	s := kernels.ChannelConvShape{N: 1, C: c, K: k}
	if err := s.Validate(); err != nil {
		return nil, LayerError(name, "ChannelConv", "new", err)
	}
	w, err := NewParam(be, Join(name, "weight"), s.WShape(), true)
	if err != nil {
		return nil, err
	}
	return &ChannelConv{name: name, be: be, C: c, K: k, Weight: w}, nil
}

// Name returns the layer's dotted path.
func (l *ChannelConv) Name() string { return l.name }

// Params returns the weight.
func (l *ChannelConv) Params() []*Param { return []*Param{l.Weight} }

// Forward convolves x [N, 1, 1, C] across its channels.
func (l *ChannelConv) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[1] != 1 || x.Shape[2] != 1 || x.Shape[3] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, "ChannelConv", "forward", x.Shape, fmt.Sprintf("[N 1 1 %d]", l.C))
	}
	s := kernels.ChannelConvShape{N: x.Shape[0], C: l.C, K: l.K}
	y, err := l.out.Get(l.be, x.Shape)
	if err == nil {
		err = l.be.ChannelConv(y, x, l.Weight.Value, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "ChannelConv", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates the weight gradient and returns dx.
func (l *ChannelConv) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "ChannelConv", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.ChannelConvBackward(dx, l.Weight.Grad, dy, l.x, l.Weight.Value, l.s)
	})
}
