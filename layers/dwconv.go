package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// DWConv is a depthwise 2-D convolution over NHWC input with an odd square
// kernel and "same" padding K/2, PyTorch's nn.Conv2d(C, C, K, stride,
// padding=K/2, groups=C):
//
//	x [N, H, W, C] → y [N, OH, OW, C]; weight [C, 1, K, K], bias [C]
//
// ConvNeXt's block starts with a 7×7 one (conv_dw).
type DWConv struct {
	name         string
	be           kernels.Backend
	C, K, Stride int
	Weight, Bias *Param
	x            kernels.Tensor
	s            kernels.DWConvShape
	out, dx      Buffer
}

// NewDWConv returns a DWConv named name with ConvNeXt's weight init drawn by
// rng (zero when nil) and a zero bias. It returns an error unless c, k,
// stride are positive and k is odd.
func NewDWConv(be kernels.Backend, name string, c, k, stride int, bias bool, rng *rand.Rand) (*DWConv, error) {
	if c <= 0 || k <= 0 || k%2 == 0 || stride <= 0 {
		return nil, fmt.Errorf("layer %s (DWConv): invalid sizes c=%d k=%d (must be odd) stride=%d: %w", name, c, k, stride, kernels.ErrShape)
	}
	l := &DWConv{name: name, be: be, C: c, K: k, Stride: stride}
	var err error
	if l.Weight, err = NewParam(be, Join(name, "weight"), kernels.Shape{c, 1, k, k}, true); err != nil {
		return nil, err
	}
	if err := initWeight(be, l.Weight, rng); err != nil {
		return nil, err
	}
	if bias {
		if l.Bias, err = NewParam(be, Join(name, "bias"), kernels.Shape{c}, false); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *DWConv) Name() string { return l.name }

// Params returns weight and bias.
func (l *DWConv) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Forward convolves x [N, H, W, C].
func (l *DWConv) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, "DWConv", "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.C))
	}
	s := kernels.DWConvShape{N: x.Shape[0], H: x.Shape[1], W: x.Shape[2], C: l.C, K: l.K, Stride: l.Stride}
	y, err := l.out.GetAct(l.be, s.YShape())
	if err == nil {
		err = l.be.DWConv(y, x, l.Weight.Value, valueOf(l.Bias), s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "DWConv", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates weight and bias gradients and returns dx.
func (l *DWConv) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "DWConv", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.s.YShape()) {
		return kernels.Tensor{}, ShapeError(l.name, "DWConv", "backward", dy.Shape, l.s.YShape().String())
	}
	dx, err := l.dx.GetAct(l.be, l.s.XShape())
	if err == nil {
		err = l.be.DWConvBackward(dx, l.Weight.Grad, GradOf(l.Bias), dy, l.x, l.Weight.Value, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "DWConv", "backward", err)
	}
	return dx, nil
}
