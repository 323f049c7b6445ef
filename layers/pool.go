package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// GlobalAvgPool averages NHWC input over its spatial axes: x [N, H, W, C] →
// y [N, C] (ConvNeXt's x.mean([-2, -1]) before the head norm).
type GlobalAvgPool struct {
	name    string
	be      kernels.Backend
	x       kernels.Tensor
	s       kernels.PoolShape
	out, dx Buffer
}

// NewGlobalAvgPool returns a global average pool.
func NewGlobalAvgPool(be kernels.Backend, name string) *GlobalAvgPool {
	return &GlobalAvgPool{name: name, be: be}
}

// Name returns the layer's dotted path.
func (l *GlobalAvgPool) Name() string { return l.name }

// Params returns nil.
func (l *GlobalAvgPool) Params() []*Param { return nil }

// Forward averages x [N, H, W, C] into [N, C].
func (l *GlobalAvgPool) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 {
		return kernels.Tensor{}, ShapeError(l.name, "GlobalAvgPool", "forward", x.Shape, "[N H W C]")
	}
	s := kernels.PoolShape{N: x.Shape[0], HW: x.Shape[1] * x.Shape[2], C: x.Shape[3]}
	y, err := l.out.GetAct(l.be, kernels.Shape{s.N, s.C})
	if err == nil {
		err = l.be.AvgPool(y, x, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "GlobalAvgPool", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward spreads dy [N, C] evenly over the spatial positions.
func (l *GlobalAvgPool) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "GlobalAvgPool", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(kernels.Shape{l.s.N, l.s.C}) {
		return kernels.Tensor{}, ShapeError(l.name, "GlobalAvgPool", "backward", dy.Shape, fmt.Sprintf("[%d %d]", l.s.N, l.s.C))
	}
	dx, err := l.dx.GetAct(l.be, l.x.Shape)
	if err == nil {
		err = l.be.AvgPoolBackward(dx, dy, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "GlobalAvgPool", "backward", err)
	}
	return dx, nil
}
