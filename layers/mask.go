package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// PatchMask is the FCMAE mask of the current batch, shared by every [Mask]
// layer of a model: T [N, GH, GW] holds 1 for a masked patch and 0 for a
// visible one (official models/fcmae.py gen_random_mask). The owner sets T
// before each forward; each Mask layer upsamples it to its activation's
// resolution.
type PatchMask struct {
	T kernels.Tensor
}

// Mask applies a [PatchMask] to NHWC activations x [N, GH·s, GW·s, C] for
// any s ≥ 1: masked pixels become zero, or the learnable Token [1, C, 1, 1]
// when one is present (fcmae.py's mask_token). Without a token it is the
// re-masking that makes a dense encoder compute what a sparse (submanifold)
// convolution over the visible patches computes; with one it is the
// decoder's x·(1 − mask) + mask_token·mask.
type Mask struct {
	name    string
	be      kernels.Backend
	src     *PatchMask
	Token   *Param // nil: fill with zeros
	s       kernels.MaskShape
	mask    kernels.Tensor // the forward's mask, which the backward reuses
	out, dx Buffer
}

// NewMask returns a zero-filling Mask named name reading src.
func NewMask(be kernels.Backend, name string, src *PatchMask) *Mask {
	return &Mask{name: name, be: be, src: src}
}

// NewMaskToken returns a Mask that fills masked pixels with a learnable
// token of c channels, parameter tokenName with shape [1, c, 1, 1] (fcmae.py
// mask_token), drawn from N(0, 0.02²) by rng (zero when nil). It returns an
// error wrapping kernels.ErrShape if c is not positive.
func NewMaskToken(be kernels.Backend, name, tokenName string, c int, src *PatchMask, rng *rand.Rand) (*Mask, error) {
	if c <= 0 {
		return nil, fmt.Errorf("layer %s (Mask): %d channels: %w", name, c, kernels.ErrShape)
	}
	l := NewMask(be, name, src)
	var err error
	if l.Token, err = NewParam(be, tokenName, kernels.Shape{1, c, 1, 1}, false); err != nil {
		return nil, err
	}
	if rng != nil {
		v := make([]float32, c)
		for i := range v {
			v[i] = float32(0.02 * rng.NormFloat64())
		}
		if err := be.Upload(l.Token.Value, v); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *Mask) Name() string { return l.name }

// Params returns the token, if any.
func (l *Mask) Params() []*Param { return ParamList(l.Token) }

// shape returns the MaskShape of x under the current mask.
func (l *Mask) shape(x kernels.Tensor) (kernels.MaskShape, error) {
	m := l.src.T
	if m.Nil() || len(m.Shape) != 3 {
		return kernels.MaskShape{}, fmt.Errorf("layer %s (Mask): no [N GH GW] patch mask set: %w", l.name, kernels.ErrShape)
	}
	n, gh, gw := m.Shape[0], m.Shape[1], m.Shape[2]
	if len(x.Shape) != 4 || x.Shape[0] != n || x.Shape[1]%gh != 0 || x.Shape[2]%gw != 0 || x.Shape[1]/gh != x.Shape[2]/gw {
		return kernels.MaskShape{}, ShapeError(l.name, "Mask", "forward", x.Shape, fmt.Sprintf("[%d k·%d k·%d C]", n, gh, gw))
	}
	s := kernels.MaskShape{N: n, GH: gh, GW: gw, Scale: x.Shape[1] / gh, C: x.Shape[3]}
	if l.Token != nil && l.Token.Value.Len() != s.C {
		return s, ShapeError(l.name, "Mask", "forward", x.Shape, fmt.Sprintf("%d channels (the token's)", l.Token.Value.Len()))
	}
	return s, nil
}

// Forward returns x with masked pixels zeroed or set to the token.
func (l *Mask) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	s, err := l.shape(x)
	if err != nil {
		return kernels.Tensor{}, err
	}
	y, err := l.out.GetAct(l.be, x.Shape)
	if err == nil {
		err = l.be.MaskFill(y, x, l.src.T, l.token(), s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Mask", "forward", err)
	}
	l.s, l.mask = s, l.src.T
	return y, nil
}

// Backward returns dy with masked pixels zeroed and accumulates the token's
// gradient, the sum of dy over masked pixels.
func (l *Mask) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.mask.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "Mask", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.s.XShape()) {
		return kernels.Tensor{}, ShapeError(l.name, "Mask", "backward", dy.Shape, l.s.XShape().String())
	}
	var dfill kernels.Tensor
	if l.Token != nil {
		dfill, _ = l.Token.Grad.Reshape(kernels.Shape{l.s.C})
	}
	dx, err := l.dx.GetAct(l.be, dy.Shape)
	if err == nil {
		err = l.be.MaskFillBackward(dx, dfill, dy, l.mask, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Mask", "backward", err)
	}
	return dx, nil
}

// token returns the token as a [C] tensor, or the nil tensor.
func (l *Mask) token() kernels.Tensor {
	if l.Token == nil {
		return kernels.Tensor{}
	}
	t, _ := l.Token.Value.Reshape(kernels.Shape{l.Token.Value.Len()})
	return t
}
