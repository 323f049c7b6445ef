package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// DefaultEps is the epsilon of every ConvNeXt LayerNorm and GRN (1e-6).
const DefaultEps = 1e-6

// LayerNorm normalizes the last axis (channels) of its input with biased
// variance and an affine transform, PyTorch's nn.LayerNorm(C, eps) and
// ConvNeXt's channels_first LayerNorm alike (they are the same op on NHWC):
//
//	x, y [..., C]; weight, bias [C] (init 1 and 0)
type LayerNorm struct {
	name         string
	be           kernels.Backend
	C            int
	Eps          float64
	Weight, Bias *Param
	x            kernels.Tensor
	s            kernels.NormShape
	out, dx      Buffer
	mean, rstd   Buffer
}

// NewLayerNorm returns a LayerNorm over c channels with weight 1, bias 0.
func NewLayerNorm(be kernels.Backend, name string, c int, eps float64) (*LayerNorm, error) {
	l := &LayerNorm{name: name, be: be, C: c, Eps: eps}
	var err error
	l.Weight, l.Bias, err = newNormParams(be, name, "LayerNorm", c, eps)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// newNormParams allocates a norm's weight (filled with 1) and bias (0).
func newNormParams(be kernels.Backend, name, kind string, c int, eps float64) (w, b *Param, err error) {
	if c <= 0 || !(eps >= 0) {
		return nil, nil, fmt.Errorf("layer %s (%s): invalid c=%d eps=%v: %w", name, kind, c, eps, kernels.ErrShape)
	}
	if w, err = NewParam(be, Join(name, "weight"), kernels.Shape{c}, false); err != nil {
		return nil, nil, err
	}
	if err = Fill(be, w, 1); err != nil {
		return nil, nil, err
	}
	if b, err = NewParam(be, Join(name, "bias"), kernels.Shape{c}, false); err != nil {
		return nil, nil, err
	}
	return w, b, nil
}

// Name returns the layer's dotted path.
func (l *LayerNorm) Name() string { return l.name }

// Params returns weight and bias.
func (l *LayerNorm) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Forward normalizes x [..., C].
func (l *LayerNorm) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	s, err := normForward(l.be, l.name, "LayerNorm", x, l.C, l.Eps, &l.out, &l.mean, &l.rstd,
		func(y, mean, rstd kernels.Tensor, s kernels.NormShape) error {
			return l.be.LayerNorm(y, mean, rstd, x, l.Weight.Value, l.Bias.Value, s)
		})
	if err != nil {
		return kernels.Tensor{}, err
	}
	l.x, l.s = x, s
	return l.out.t, nil
}

// Backward accumulates weight and bias gradients and returns dx.
func (l *LayerNorm) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "LayerNorm", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.LayerNormBackward(dx, l.Weight.Grad, l.Bias.Grad, dy, l.x, l.mean.t, l.rstd.t, l.Weight.Value, l.s)
	})
}

// normForward checks x [..., c], sizes the output and statistics buffers
// and runs op; shared by LayerNorm and LayerNormGELU.
func normForward(be kernels.Backend, name, kind string, x kernels.Tensor, c int, eps float64, out, mean, rstd *Buffer,
	op func(y, mean, rstd kernels.Tensor, s kernels.NormShape) error) (kernels.NormShape, error) {
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != c {
		return kernels.NormShape{}, ShapeError(name, kind, "forward", x.Shape, fmt.Sprintf("[... %d]", c))
	}
	s := kernels.NormShape{Rows: x.Len() / c, C: c, Eps: eps}
	y, err := out.GetAct(be, x.Shape)
	var m, r kernels.Tensor
	if err == nil {
		m, err = mean.Get(be, kernels.Shape{s.Rows})
	}
	if err == nil {
		r, err = rstd.Get(be, kernels.Shape{s.Rows})
	}
	if err == nil {
		err = op(y, m, r, s)
	}
	if err != nil {
		return s, LayerError(name, kind, "forward", err)
	}
	return s, nil
}

// sameShapeBackward checks that Forward ran and dy matches x, sizes dx and runs
// op; shared by the layers whose dx has x's shape.
func sameShapeBackward(be kernels.Backend, name, kind string, x, dy kernels.Tensor, dxBuf *Buffer, op func(dx kernels.Tensor) error) (kernels.Tensor, error) {
	if x.Nil() {
		return kernels.Tensor{}, LayerError(name, kind, "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(x.Shape) {
		return kernels.Tensor{}, ShapeError(name, kind, "backward", dy.Shape, x.Shape.String())
	}
	dx, err := dxBuf.GetAct(be, x.Shape)
	if err == nil {
		err = op(dx)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(name, kind, "backward", err)
	}
	return dx, nil
}
