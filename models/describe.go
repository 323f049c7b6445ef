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
	Kind       string        `json:"kind"`        // the layer's layers.Info.Kind: Conv2D, DWConv, LayerNorm, Linear, GELU, GRN, DropPath, LayerScale, GlobalAvgPool, FakeQuant, Add, ...
	Out        kernels.Shape `json:"out"`         // output shape, NHWC
	Params     int           `json:"params"`      // parameter elements
	MACs       int64         `json:"macs"`        // multiply-accumulates of one forward (conv and linear only, the fvcore/paper convention)
	SavedBytes int64         `json:"saved_bytes"` // bytes of forward buffers (output, statistics, masks) held until backward
	ForwardMs  float64       `json:"forward_ms,omitempty"`
	BackwardMs float64       `json:"backward_ms,omitempty"`
}

// Describe lists every leaf layer of the network in execution order, with a
// row of kind Add for each residual sum, for an input of n images of h×w
// pixels. Each row comes from the layer's [layers.Describer] (shapes,
// MACs, held activations) and its parameters, analytically (no data
// moves), so it works for any size the network accepts. elemBytes is the
// size of an activation element (4 for float32,
// 2 in bf16 precision). A leaf layer without Describe is
// an error wrapping layers.ErrNoDescribe, never a row of zeros.
func (m *Model) Describe(n, h, w, elemBytes int) ([]LayerInfo, error) {
	if min := m.MinInput(); h < min || w < min || n <= 0 {
		return nil, fmt.Errorf("models: describe %d×%dx%d: input must be at least %dx%d: %w", n, h, w, min, min, kernels.ErrShape)
	}
	return describe(m.Net, kernels.Shape{n, h, w, m.Config.InChans}, elemBytes)
}

// describe lists the rows of l and the layers below it for input shape in.
func describe(root layers.Layer, in kernels.Shape, elemBytes int) ([]LayerInfo, error) {
	var out []LayerInfo
	shape := in
	var walk func(l layers.Layer) error
	walk = func(l layers.Layer) error {
		if c, ok := l.(layers.Container); ok {
			start := shape
			parallel := false
			if p, ok := l.(interface{ ParallelChildren() bool }); ok {
				parallel = p.ParallelChildren()
			}
			for _, ch := range c.Children() {
				if parallel {
					shape = start // each branch reads the container's input
				}
				if err := walk(ch); err != nil {
					return err
				}
			}
			d, ok := l.(layers.Describer)
			if !ok {
				return nil
			}
			if parallel {
				start = shape // a sum of branches: described at their output
			}
			info, err := d.Describe(start)
			if err != nil {
				return err
			}
			shape = info.Out // a gate after a pooled body (SE, ECA) returns to the input's shape
			out = append(out, LayerInfo{Name: l.Name(), Kind: info.Kind, Out: info.Out, MACs: info.MACs, SavedBytes: info.Saved * int64(elemBytes)})
			return nil
		}
		info, err := layers.Describe(l, shape)
		if err != nil {
			return fmt.Errorf("models: describe: %w", err)
		}
		shape = info.Out
		out = append(out, LayerInfo{Name: l.Name(), Kind: info.Kind, Out: info.Out.Clone(), Params: layers.CountParams(l.Params()),
			MACs: info.MACs, SavedBytes: info.Saved * int64(elemBytes)})
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return out, nil
}

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
