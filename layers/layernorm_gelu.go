package layers

import (
	"github.com/nextconv/nextconv/kernels"
)

// LayerNormGELU is LayerNorm followed by GELU computed by one fused op
// (kernels.NormOps.LayerNormGELU): x, y [..., C]; weight, bias [C]. It saves
// the pre-activation's memory traffic; the backward recomputes it.
type LayerNormGELU struct {
	name         string
	be           kernels.Backend
	C            int
	Eps          float64
	Approx       kernels.GELUApprox
	Weight, Bias *Param
	x            kernels.Tensor
	s            kernels.NormShape
	out, dx      Buffer
	mean, rstd   Buffer
}

// NewLayerNormGELU returns a fused LayerNorm+GELU over c channels with weight
// 1 and bias 0.
func NewLayerNormGELU(be kernels.Backend, name string, c int, eps float64, approx kernels.GELUApprox) (*LayerNormGELU, error) {
	l := &LayerNormGELU{name: name, be: be, C: c, Eps: eps, Approx: approx}
	var err error
	l.Weight, l.Bias, err = newNormParams(be, name, "LayerNormGELU", c, eps)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *LayerNormGELU) Name() string { return l.name }

// Params returns weight and bias.
func (l *LayerNormGELU) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Forward computes GELU(LayerNorm(x)) for x [..., C].
func (l *LayerNormGELU) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	s, err := normForward(l.be, l.name, "LayerNormGELU", x, l.C, l.Eps, &l.out, &l.mean, &l.rstd,
		func(y, mean, rstd kernels.Tensor, s kernels.NormShape) error {
			return l.be.LayerNormGELU(y, mean, rstd, x, l.Weight.Value, l.Bias.Value, s, l.Approx)
		})
	if err != nil {
		return kernels.Tensor{}, err
	}
	l.x, l.s = x, s
	return l.out.t, nil
}

// Backward accumulates weight and bias gradients and returns dx.
func (l *LayerNormGELU) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "LayerNormGELU", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.LayerNormGELUBackward(dx, l.Weight.Grad, l.Bias.Grad, dy, l.x, l.mean.t, l.rstd.t, l.Weight.Value, l.Bias.Value, l.s, l.Approx)
	})
}
