package layers

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// Info is a layer's analytic description for one input shape: what the
// profiler (models.Model.Describe) lists and the memory limits sum.
type Info struct {
	Kind  string        // layer type as the profiler prints it: Conv2D, DWConv, Linear, LayerNorm, GELU, GRN, DropPath, LayerScale, GlobalAvgPool, Add, ...
	Out   kernels.Shape // output shape (NHWC, or [N, C] after pooling)
	MACs  int64         // multiply-accumulates of one forward (convolutions and linear layers; the fvcore/paper convention counts nothing else)
	Saved int64         // elements the forward pass holds for the backward: the output, statistics and masks
}

// Describer is implemented by every leaf layer, and by a container that
// adds work of its own after its children (Residual's sum): it describes
// the layer for input shape in without moving data. It returns an error
// wrapping kernels.ErrShape when in does not fit the layer.
type Describer interface {
	Describe(in kernels.Shape) (Info, error)
}

// ErrNoDescribe is wrapped by the error for a layer that does not
// implement Describer, so that a profile never silently counts it as
// free.
var ErrNoDescribe = errors.New("layer does not implement layers.Describer")

// Describe returns d's Info for input shape in, or an error wrapping
// ErrNoDescribe naming l when l does not implement Describer.
func Describe(l Layer, in kernels.Shape) (Info, error) {
	d, ok := l.(Describer)
	if !ok {
		return Info{}, fmt.Errorf("layer %s (%T): %w", l.Name(), l, ErrNoDescribe)
	}
	return d.Describe(in)
}

// channelsLast checks that in is at least 2-D with c channels last.
func channelsLast(name, kind string, in kernels.Shape, c int) error {
	if len(in) < 2 || in[len(in)-1] != c {
		return ShapeError(name, kind, "describe", in, fmt.Sprintf("[..., %d]", c))
	}
	return nil
}

// nhwc checks that in is NHWC with c channels.
func nhwc(name, kind string, in kernels.Shape, c int) error {
	if len(in) != 4 || in[3] != c {
		return ShapeError(name, kind, "describe", in, fmt.Sprintf("[N H W %d]", c))
	}
	return nil
}

// Describe returns the residual sum's row for the branches' output shape
// in: output and held input of that shape, no MACs (its body and shortcut
// are described separately).
func (r *Residual) Describe(in kernels.Shape) (Info, error) {
	return Info{Kind: "Add", Out: in.Clone(), Saved: int64(in.Len())}, nil
}

// Describe: output [N, OutH, OutW, COut], K²·CIn·COut MACs per output pixel.
func (l *Conv2D) Describe(in kernels.Shape) (Info, error) {
	if err := nhwc(l.name, "Conv2D", in, l.CIn); err != nil {
		return Info{}, err
	}
	s := l.Shape(in[0], in[1], in[2])
	y := s.YShape()
	return Info{Kind: "Conv2D", Out: y, MACs: s.MACs(), Saved: int64(y.Len())}, nil
}

// Describe: output [N, OutH, OutW, C], K² MACs per output element.
func (l *DWConv) Describe(in kernels.Shape) (Info, error) {
	if err := nhwc(l.name, "DWConv", in, l.C); err != nil {
		return Info{}, err
	}
	s := kernels.DWConvShape{N: in[0], H: in[1], W: in[2], C: l.C, K: l.K, Stride: l.Stride}
	y := s.YShape()
	return Info{Kind: "DWConv", Out: y, MACs: s.MACs(), Saved: int64(y.Len())}, nil
}

// Describe: output [..., Out], In·Out MACs per row.
func (l *Linear) Describe(in kernels.Shape) (Info, error) {
	if err := channelsLast(l.name, "Linear", in, l.In); err != nil {
		return Info{}, err
	}
	y := append(in[:len(in)-1:len(in)-1], l.Out)
	rows := in.Len() / l.In
	return Info{Kind: "Linear", Out: y, MACs: kernels.LinearShape{Rows: rows, In: l.In, Out: l.Out}.MACs(), Saved: int64(y.Len())}, nil
}

// Describe: the output and a mean and inverse deviation per row.
func (l *LayerNorm) Describe(in kernels.Shape) (Info, error) {
	if err := channelsLast(l.name, "LayerNorm", in, l.C); err != nil {
		return Info{}, err
	}
	return Info{Kind: "LayerNorm", Out: in.Clone(), Saved: int64(in.Len() + 2*in.Len()/l.C)}, nil
}

// Describe: as LayerNorm.
func (l *LayerNormGELU) Describe(in kernels.Shape) (Info, error) {
	if err := channelsLast(l.name, "LayerNormGELU", in, l.C); err != nil {
		return Info{}, err
	}
	return Info{Kind: "LayerNormGELU", Out: in.Clone(), Saved: int64(in.Len() + 2*in.Len()/l.C)}, nil
}

// Describe: the output.
func (l *GELU) Describe(in kernels.Shape) (Info, error) {
	return Info{Kind: "GELU", Out: in.Clone(), Saved: int64(in.Len())}, nil
}

// Describe: the output and one norm per sample and channel.
func (l *GRN) Describe(in kernels.Shape) (Info, error) {
	if err := nhwc(l.name, "GRN", in, l.C); err != nil {
		return Info{}, err
	}
	return Info{Kind: "GRN", Out: in.Clone(), Saved: int64(in.Len() + in[0]*l.C)}, nil
}

// Describe: the output and one factor per sample; nothing at rate 0 (the
// identity).
func (l *DropPath) Describe(in kernels.Shape) (Info, error) {
	if l.Rate == 0 {
		return Info{Kind: "DropPath", Out: in.Clone()}, nil
	}
	return Info{Kind: "DropPath", Out: in.Clone(), Saved: int64(in.Len() + in[0])}, nil
}

// Describe: the output.
func (l *LayerScale) Describe(in kernels.Shape) (Info, error) {
	return Info{Kind: "LayerScale", Out: in.Clone(), Saved: int64(in.Len())}, nil
}

// Describe: output [N, C] ([N, 1, 1, C] with KeepDims).
func (l *GlobalAvgPool) Describe(in kernels.Shape) (Info, error) {
	if len(in) != 4 {
		return Info{}, ShapeError(l.name, "GlobalAvgPool", "describe", in, "[N H W C]")
	}
	y := kernels.Shape{in[0], in[3]}
	if l.KeepDims {
		y = kernels.Shape{in[0], 1, 1, in[3]}
	}
	return Info{Kind: "GlobalAvgPool", Out: y, Saved: int64(y.Len())}, nil
}

// Describe returns the gate's row after the pool and body: output x·gate of
// in's shape, held for the backward; no MACs (the body's 1×1 convolutions
// are described separately).
func (l *ChannelAttention) Describe(in kernels.Shape) (Info, error) {
	if err := nhwc(l.name, l.kind, in, l.C); err != nil {
		return Info{}, err
	}
	return Info{Kind: l.kind, Out: in.Clone(), Saved: int64(in.Len())}, nil
}

// Describe: ECA's 1-D convolution across channels, output of in's shape.
func (l *ChannelConv) Describe(in kernels.Shape) (Info, error) {
	return Info{Kind: "ChannelConv", Out: in.Clone(), Saved: int64(in.Len())}, nil
}

// Describe: a view of in as [N, Trailing...]; it holds nothing.
func (l *Reshape) Describe(in kernels.Shape) (Info, error) {
	if len(in) == 0 || in.Len() != in[0]*l.Trailing.Len() {
		return Info{}, ShapeError(l.name, "Reshape", "describe", in, fmt.Sprintf("[N] + %d elements per sample", l.Trailing.Len()))
	}
	return Info{Kind: "Reshape", Out: append(kernels.Shape{in[0]}, l.Trailing...)}, nil
}
