package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// ChannelAttention reweights the channels of NHWC input by a gate computed
// from their spatial means, the shape shared by squeeze-and-excitation and
// ECA:
//
//	p = mean_hw x  [N, 1, 1, C];  g = Body(p)  [N, 1, 1, C];  y = x·Gate(g)  [N, H, W, C]
//
// Pool keeps the dimensions (KeepDims), so that every child maps NHWC to
// NHWC. Body maps the pooled [N, 1, 1, C] to the gate's logits of the same
// shape:
// conv_reduce → act1 → conv_expand for [NewSqueezeExcite], a 1-D
// convolution across channels for [NewECA]. The gate (sigmoid or hard
// sigmoid) and the product are one fused op (kernels.ChannelGate), and
// Backward adds the gradient through the pooled path to the gate's dx.
type ChannelAttention struct {
	name, kind string
	be         kernels.Backend
	C          int
	Pool       *GlobalAvgPool
	Body       Layer
	Gate       kernels.GateKind
	x, g       kernels.Tensor
	s          kernels.GateShape
	out, dx    Buffer
	dg         Buffer
}

// NewSqueezeExcite returns squeeze-and-excitation (Hu et al. 2018, §3)
// over c channels as timm's EfficientNet/MobileNet SqueezeExcite
// (models/_efficientnet_blocks.py) computes it: global average pool, a 1×1
// convolution with bias to reduced channels (name.conv_reduce.{weight
// [reduced, c, 1, 1], bias}), act (the block's activation: SiLU for
// EfficientNet, ReLU in timm's default; nil for none), a 1×1 convolution
// with bias back to c (name.conv_expand), then x·gate. Weights are drawn by
// rng as [NewConv2D] does. It returns an error wrapping kernels.ErrShape
// unless c and reduced are positive, or an unknown gate.
func NewSqueezeExcite(be kernels.Backend, name string, c, reduced int, act Layer, gate kernels.GateKind, rng *rand.Rand) (*ChannelAttention, error) {
	if c <= 0 || reduced <= 0 || gate > kernels.GateHardSigmoid {
		return nil, fmt.Errorf("layer %s (SqueezeExcite): invalid channels %d, reduced %d or gate %d: %w", name, c, reduced, gate, kernels.ErrShape)
	}
	reduce, err := NewConv2D(be, Join(name, "conv_reduce"), c, reduced, 1, 1, 0, true, rng)
	if err != nil {
		return nil, err
	}
	expand, err := NewConv2D(be, Join(name, "conv_expand"), reduced, c, 1, 1, 0, true, rng)
	if err != nil {
		return nil, err
	}
	body := []Layer{reduce, expand}
	if act != nil {
		body = []Layer{reduce, act, expand}
	}
	return newChannelAttention(be, name, "SqueezeExcite", c, NewSequential(name, body...), gate), nil
}

// NewECA returns efficient channel attention (Wang et al. 2020, ECA-Net §3.3)
// over c channels as timm's EcaModule (layers/eca.py) computes it: global
// average pool, a 1-D convolution across channels of odd kernel size k with
// zero padding (k−1)/2 and no bias (name.conv.weight [1, 1, k]), then
// x·sigmoid. k ≤ 0 picks the adaptive size [kernels.ECAKernelSize](c).
// Weights are drawn by rng from PyTorch's default Conv1d init, U(−1/√k,
// 1/√k) (ConvNeXt's init leaves Conv1d alone); zero when rng is nil. It
// returns an error wrapping kernels.ErrShape unless c is positive and k
// odd.
func NewECA(be kernels.Backend, name string, c, k int, rng *rand.Rand) (*ChannelAttention, error) {
	if k <= 0 {
		k = kernels.ECAKernelSize(c)
	}
	if c <= 0 || k%2 == 0 {
		return nil, fmt.Errorf("layer %s (ECA): invalid channels %d or kernel size %d (must be odd): %w", name, c, k, kernels.ErrShape)
	}
	conv, err := NewChannelConv(be, Join(name, "conv"), c, k)
	if err != nil {
		return nil, err
	}
	if rng != nil {
		v := make([]float32, k)
		bound := 1 / math.Sqrt(float64(k))
		for i := range v {
			v[i] = float32((2*rng.Float64() - 1) * bound)
		}
		if err := be.Upload(conv.Weight.Value, v); err != nil {
			return nil, err
		}
	}
	return newChannelAttention(be, name, "ECA", c, conv, kernels.GateSigmoid), nil
}

func newChannelAttention(be kernels.Backend, name, kind string, c int, body Layer, gate kernels.GateKind) *ChannelAttention {
	pool := NewGlobalAvgPool(be, Join(name, "pool"))
	pool.KeepDims = true
	return &ChannelAttention{name: name, kind: kind, be: be, C: c, Pool: pool, Body: body, Gate: gate}
}

// Name returns the layer's dotted path.
func (l *ChannelAttention) Name() string { return l.name }

// Children returns the pool and the body.
func (l *ChannelAttention) Children() []Layer { return []Layer{l.Pool, l.Body} }

// Params returns the body's parameters.
func (l *ChannelAttention) Params() []*Param { return l.Body.Params() }

// Forward computes x·Gate(Body(mean_hw x)) for x [N, H, W, C].
func (l *ChannelAttention) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, l.kind, "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.C))
	}
	s := kernels.GateShape{N: x.Shape[0], HW: x.Shape[1] * x.Shape[2], C: l.C, Gate: l.Gate}
	p, err := l.Pool.Forward(x)
	if err != nil {
		return kernels.Tensor{}, err
	}
	g, err := l.Body.Forward(p)
	if err != nil {
		return kernels.Tensor{}, err
	}
	y, err := l.out.Get(l.be, x.Shape)
	if err == nil {
		err = l.be.ChannelGate(y, x, g, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, l.kind, "forward", err)
	}
	l.x, l.g, l.s = x, g, s
	return y, nil
}

// Backward returns dx = dy·Gate(g) plus the gradient through the pooled
// path, and accumulates the body's parameter gradients.
func (l *ChannelAttention) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, l.kind, "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.x.Shape) {
		return kernels.Tensor{}, ShapeError(l.name, l.kind, "backward", dy.Shape, l.x.Shape.String())
	}
	s := l.s
	dx, err := l.dx.Get(l.be, l.x.Shape)
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, l.kind, "backward", err)
	}
	dg, err := l.dg.Get(l.be, kernels.Shape{s.N, 1, 1, s.C})
	if err == nil {
		err = l.be.ChannelGateBackward(dx, dg, dy, l.x, l.g, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, l.kind, "backward", err)
	}
	dp, err := l.Body.Backward(dg)
	if err != nil {
		return kernels.Tensor{}, err
	}
	dpool, err := l.Pool.Backward(dp)
	if err != nil {
		return kernels.Tensor{}, err
	}
	if err := l.be.Add(dx, dx, dpool); err != nil {
		return kernels.Tensor{}, LayerError(l.name, l.kind, "backward", err)
	}
	return dx, nil
}
