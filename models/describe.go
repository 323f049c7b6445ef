package models

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// LayerInfo describes one leaf layer (or a block's residual add) for an
// input of a given size.
type LayerInfo struct {
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`        // Conv2D, DWConv, LayerNorm, Linear, GELU, GRN, DropPath, LayerScale, GlobalAvgPool, Add
	Out        kernels.Shape `json:"out"`         // output shape, NHWC
	Params     int           `json:"params"`      // parameter elements
	MACs       int64         `json:"macs"`        // multiply-accumulates of one forward (conv and linear only, the fvcore/paper convention)
	SavedBytes int64         `json:"saved_bytes"` // bytes of forward buffers (output, statistics, masks) held until backward
	ForwardMs  float64       `json:"forward_ms,omitempty"`
	BackwardMs float64       `json:"backward_ms,omitempty"`
}

// Describe lists every leaf layer of the network in execution order, with a
// row of kind Add for each block's residual sum, for an input of n images of
// h×w pixels. It computes shapes, parameters, MACs and held activation bytes
// analytically (no data moves), so it works for any size the network
// accepts. elemBytes is the size of an activation element (4 for float32,
// 2 in bf16 precision).
func (m *Model) Describe(n, h, w, elemBytes int) ([]LayerInfo, error) {
	if min := m.MinInput(); h < min || w < min || n <= 0 {
		return nil, fmt.Errorf("models: describe %d×%dx%d: input must be at least %dx%d: %w", n, h, w, min, min, kernels.ErrShape)
	}
	var out []LayerInfo
	shape := kernels.Shape{n, h, w, m.Config.InChans}
	var walk func(l layers.Layer)
	walk = func(l layers.Layer) {
		switch v := l.(type) {
		case *layers.Block:
			in := shape
			walk(v.Residual.Body)
			out = append(out, LayerInfo{Name: v.Name(), Kind: "Add", Out: in, SavedBytes: bytesOf(in, elemBytes)})
			return
		case layers.Container:
			for _, ch := range v.Children() {
				walk(ch)
			}
			return
		}
		info := LayerInfo{Name: l.Name(), Params: layers.CountParams(l.Params())}
		var extra int // elements of statistics and masks
		switch v := l.(type) {
		case *layers.Conv2D:
			s := v.Shape(shape[0], shape[1], shape[2])
			info.Kind, shape, info.MACs = "Conv2D", s.YShape(), s.MACs()
		case *layers.DWConv:
			s := kernels.DWConvShape{N: shape[0], H: shape[1], W: shape[2], C: v.C, K: v.K, Stride: v.Stride}
			info.Kind, shape, info.MACs = "DWConv", s.YShape(), s.MACs()
		case *layers.Linear:
			rows := shape.Len() / v.In
			shape = append(shape[:len(shape)-1:len(shape)-1], v.Out)
			info.Kind, info.MACs = "Linear", kernels.LinearShape{Rows: rows, In: v.In, Out: v.Out}.MACs()
		case *layers.LayerNorm:
			info.Kind, extra = "LayerNorm", 2*shape.Len()/v.C
		case *layers.LayerNormGELU:
			info.Kind, extra = "LayerNormGELU", 2*shape.Len()/v.C
		case *layers.GELU:
			info.Kind = "GELU"
		case *layers.GRN:
			info.Kind, extra = "GRN", shape[0]*v.C
		case *layers.DropPath:
			info.Kind = "DropPath"
			if v.Rate == 0 {
				info.Out = shape
				out = append(out, info) // identity: holds nothing
				return
			}
			extra = shape[0]
		case *layers.LayerScale:
			info.Kind = "LayerScale"
		case *layers.GlobalAvgPool:
			info.Kind, shape = "GlobalAvgPool", kernels.Shape{shape[0], shape[3]}
		default:
			info.Kind = fmt.Sprintf("%T", l)
		}
		info.Out = shape.Clone()
		info.SavedBytes = int64(shape.Len()+extra) * int64(elemBytes)
		out = append(out, info)
	}
	walk(m.Net)
	return out, nil
}

// bytesOf returns the size in bytes of a tensor of shape s.
func bytesOf(s kernels.Shape, elemBytes int) int64 { return int64(s.Len()) * int64(elemBytes) }

// Totals sums parameters, MACs, held bytes and times over rows.
func Totals(rows []LayerInfo) LayerInfo {
	t := LayerInfo{Name: "total"}
	for _, r := range rows {
		t.Params += r.Params
		t.MACs += r.MACs
		t.SavedBytes += r.SavedBytes
		t.ForwardMs += r.ForwardMs
		t.BackwardMs += r.BackwardMs
	}
	return t
}
