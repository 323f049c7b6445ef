package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// GRN is Global Response Normalization (ConvNeXt V2, Woo et al. 2023, §3;
// official models/utils.py GRN with the channel mean, timm's
// GlobalResponseNorm):
//
//	g[n,c] = ‖x[n,:,:,c]‖₂    Nx = g / (mean_c g + Eps)    y = gamma·(x·Nx) + beta + x
//
// x, y [N, H, W, C]; gamma, beta [C], both initialised to zero so GRN starts
// as the identity. timm names them weight and bias.
type GRN struct {
	name        string
	be          kernels.Backend
	C           int
	Eps         float64
	Gamma, Beta *Param
	x           kernels.Tensor
	s           kernels.GRNShape
	out, dx     Buffer
	gnorm       Buffer
}

// NewGRN returns a GRN over c channels with zero gamma and beta, parameter
// names name.weight and name.bias (timm).
func NewGRN(be kernels.Backend, name string, c int, eps float64) (*GRN, error) {
	if c <= 0 || !(eps >= 0) {
		return nil, fmt.Errorf("layer %s (GRN): invalid c=%d eps=%v: %w", name, c, eps, kernels.ErrShape)
	}
	l := &GRN{name: name, be: be, C: c, Eps: eps}
	var err error
	if l.Gamma, err = NewParam(be, Join(name, "weight"), kernels.Shape{c}, false); err != nil {
		return nil, err
	}
	if l.Beta, err = NewParam(be, Join(name, "bias"), kernels.Shape{c}, false); err != nil {
		return nil, err
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *GRN) Name() string { return l.name }

// Params returns gamma and beta.
func (l *GRN) Params() []*Param { return ParamList(l.Gamma, l.Beta) }

// Forward normalizes x [N, H, W, C].
func (l *GRN) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, "GRN", "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.C))
	}
	s := kernels.GRNShape{N: x.Shape[0], HW: x.Shape[1] * x.Shape[2], C: l.C, Eps: l.Eps}
	y, err := l.out.GetAct(l.be, x.Shape)
	var g kernels.Tensor
	if err == nil {
		g, err = l.gnorm.Get(l.be, kernels.Shape{s.N, s.C})
	}
	if err == nil {
		err = l.be.GRN(y, g, x, l.Gamma.Value, l.Beta.Value, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "GRN", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates gamma and beta gradients and returns dx.
func (l *GRN) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "GRN", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.GRNBackward(dx, l.Gamma.Grad, l.Beta.Grad, dy, l.x, l.gnorm.t, l.Gamma.Value, l.s)
	})
}
