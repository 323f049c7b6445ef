package qat

import (
	"fmt"
	"strings"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// Quantized wraps a Conv2D, DWConv or Linear for quantization-aware
// training, the role of PyTorch's nn.qat.Conv2d / nn.qat.Linear plus the
// fake quant on their input:
//
//	y = Layer(fq_in(x)) with Layer's weight replaced by fq_w(weight)
//
// The float weight stays the wrapped layer's Param (in the arena, updated
// by the optimizer); the fake-quantized copy exists only for the forward
// and backward. Backward runs the wrapped layer's backward against the
// fake-quantized weight with its weight gradient redirected to a scratch
// buffer g, then adds the straight-through estimate mask·g to the float
// weight's gradient (accumulating, as every parameter gradient does) and
// passes dx through the input quantizer's mask. The bias stays float (int32
// at export, from the input and weight scales).
//
// Quantized is a [layers.Container] whose children are the input quantizer (if
// any) and the wrapped layer, so Walk, SetTraining and models.Describe see
// both; its Name is the wrapped layer's.
type Quantized struct {
	Layer  layers.Layer // the float layer (*Conv2D, *DWConv or *Linear)
	Weight *FakeQuant   // fake-quantizes Layer's weight; named <layer>.weight_fake_quant
	Input  *FakeQuant   // fake-quantizes Layer's input, or nil; named <layer>.input_fake_quant
	be     kernels.Backend
	w      *layers.Param  // Layer's weight
	wq     kernels.Tensor // the fake-quantized weight the last Forward used
	swap   bool           // the last Forward ran Layer on wq
	fwd    bool
	g      layers.Buffer // dL/dwq
}

// weightOf returns a quantizable layer's weight.
func weightOf(l layers.Layer) (*layers.Param, int, bool) {
	switch v := l.(type) {
	case *layers.Conv2D:
		return v.Weight, v.CIn, true
	case *layers.DWConv:
		return v.Weight, v.C, true
	case *layers.Linear:
		return v.Weight, v.In, true
	}
	return nil, 0, false
}

// NewQuantized wraps l (a *Conv2D, *DWConv or *Linear) with a weight
// quantizer configured by weight (its per-channel axis counts from the
// weight's shape: 0 is the output channel) and, when input is not nil, an
// input quantizer (a per-channel input scheme's Axis must name the
// channel axis of l's input, 3 for NHWC; its size is l's input channels).
func NewQuantized(be kernels.Backend, l layers.Layer, weight QuantConfig, input *QuantConfig) (*Quantized, error) {
	w, in, ok := weightOf(l)
	if !ok {
		return nil, fmt.Errorf("layer %s (%T): only layers.Conv2D, layers.DWConv and layers.Linear can be quantized", l.Name(), l)
	}
	wc := 1
	if weight.Scheme.PerChannel {
		if weight.Scheme.Axis >= len(w.Shape()) {
			return nil, fmt.Errorf("layer %s: weight quant axis %d of a %v weight: %w", l.Name(), weight.Scheme.Axis, w.Shape(), kernels.ErrShape)
		}
		wc = w.Shape()[weight.Scheme.Axis]
	}
	q := &Quantized{Layer: l, be: be, w: w}
	var err error
	if q.Weight, err = NewFakeQuant(be, layers.Join(l.Name(), "weight_fake_quant"), weight, wc); err != nil {
		return nil, err
	}
	if input != nil {
		if q.Input, err = NewFakeQuant(be, layers.Join(l.Name(), "input_fake_quant"), *input, in); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Name returns the wrapped layer's name.
func (q *Quantized) Name() string { return q.Layer.Name() }

// Children returns the input quantizer (when present) and the wrapped layer.
func (q *Quantized) Children() []layers.Layer {
	if q.Input != nil {
		return []layers.Layer{q.Input, q.Layer}
	}
	return []layers.Layer{q.Layer}
}

// Params returns the wrapped layer's parameters, then the quantizers' (LSQ
// scales and zero points; none otherwise).
func (q *Quantized) Params() []*layers.Param {
	ps := append(q.Layer.Params(), q.Weight.Params()...)
	if q.Input != nil {
		ps = append(ps, q.Input.Params()...)
	}
	return ps
}

// Quantizers returns the weight quantizer and, when present, the input one.
func (q *Quantized) Quantizers() []*FakeQuant {
	if q.Input != nil {
		return []*FakeQuant{q.Weight, q.Input}
	}
	return []*FakeQuant{q.Weight}
}

// SetTraining passes the mode to both quantizers.
func (q *Quantized) SetTraining(on bool) {
	for _, f := range q.Quantizers() {
		f.SetTraining(on)
	}
}

// Forward fake-quantizes the input and the weight and runs the wrapped
// layer on them.
func (q *Quantized) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	q.fwd = false
	xq := x
	var err error
	if q.Input != nil {
		if xq, err = q.Input.Forward(x); err != nil {
			return kernels.Tensor{}, err
		}
	}
	wq, err := q.Weight.Forward(q.w.Value)
	if err != nil {
		return kernels.Tensor{}, err
	}
	q.swap = q.Weight.active
	var y kernels.Tensor
	if q.swap {
		orig := q.w.Value
		q.w.Value = wq
		y, err = q.Layer.Forward(xq)
		q.w.Value = orig
	} else {
		y, err = q.Layer.Forward(xq)
	}
	if err != nil {
		return kernels.Tensor{}, err
	}
	q.wq, q.fwd = wq, true
	return y, nil
}

// Backward routes dy through the wrapped layer (against the fake-quantized
// weight), the weight's straight-through mask into the float weight's
// gradient, and the input quantizer's mask into dx.
func (q *Quantized) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	if !q.fwd {
		return kernels.Tensor{}, layers.LayerError(q.Name(), "Quantized", "backward", layers.ErrNoForward)
	}
	var dxq kernels.Tensor
	var err error
	if q.swap {
		g, gerr := q.g.Get(q.be, q.w.Shape())
		if gerr == nil {
			gerr = q.be.Zero(g)
		}
		if gerr != nil {
			return kernels.Tensor{}, layers.LayerError(q.Name(), "Quantized", "backward", gerr)
		}
		v, grad := q.w.Value, q.w.Grad
		q.w.Value, q.w.Grad = q.wq, g
		dxq, err = q.Layer.Backward(dy)
		q.w.Value, q.w.Grad = v, grad
		if err != nil {
			return kernels.Tensor{}, err
		}
		dw, err := q.Weight.Backward(g)
		if err != nil {
			return kernels.Tensor{}, err
		}
		if err := q.be.Add(grad, grad, dw); err != nil {
			return kernels.Tensor{}, layers.LayerError(q.Name(), "Quantized", "backward", err)
		}
	} else if dxq, err = q.Layer.Backward(dy); err != nil {
		return kernels.Tensor{}, err
	}
	if q.Input != nil {
		return q.Input.Backward(dxq)
	}
	return dxq, nil
}

// Config says which layers QuantizeModel wraps and how.
type Config struct {
	Weight QuantConfig // weight quantizer of every wrapped layer
	Input  QuantConfig // input quantizer, when Inputs is set
	Inputs bool        // fake-quantize the inputs too (W8A8); false: weights only (W8A32)
	// Skip lists layers kept in float: a name matches itself and every
	// layer below it ("stages.0" skips the whole first stage).
	Skip []string
}

// DefaultSkip returns the layers DefaultConfig keeps in float: the
// stem convolution, whose input is the image, and the classifier head, the
// two layers published int8 recipes leave in higher precision because they
// are small and sensitive. LayerNorm, GELU and GRN are never quantized
// (docs/QAT.md decision 4).
func DefaultSkip() []string { return []string{"stem.0", "head.fc"} }

// DefaultConfig returns W8A8 for TensorRT: [WeightQuant] weights,
// [ActivationQuant] inputs, [DefaultSkip].
func DefaultConfig() Config {
	return Config{Weight: WeightQuant(), Input: ActivationQuant(), Inputs: true, Skip: DefaultSkip()}
}

// Validate checks both quantizer configurations.
func (c Config) Validate() error {
	if err := c.Weight.Validate(); err != nil {
		return fmt.Errorf("qat weight: %w", err)
	}
	if c.Inputs {
		if err := c.Input.Validate(); err != nil {
			return fmt.Errorf("qat input: %w", err)
		}
	}
	return nil
}

// skipped reports whether name is kept in float.
func (c Config) skipped(name string) bool {
	for _, s := range c.Skip {
		if name == s || strings.HasPrefix(name, s+".") {
			return true
		}
	}
	return false
}

// QuantizeModel replaces every Conv2D, DWConv and Linear below root whose
// name is not skipped by a [Quantized] wrapper, in place in its Sequential
// or Residual, and returns the wrappers in execution order. Layers already
// wrapped are left alone, so calling it twice wraps nothing new.
//
// The wrapped layers keep their Params, so the model's Arena stays valid
// unless LSQ is configured: LSQ scales are new Params, and the caller then
// rebuilds the arena over root.Params() (layers.NewArena) before building
// the optimizer. Typed shortcuts into the tree (a models.Model's Head, a
// Block's FC1) keep pointing at the float layers; run the network through
// root.
//
// It returns an error for an invalid cfg or a quantizable layer inside a
// container it cannot rewrite.
func QuantizeModel(be kernels.Backend, root layers.Layer, cfg Config) ([]*Quantized, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var in *QuantConfig
	if cfg.Inputs {
		in = &cfg.Input
	}
	var out []*Quantized
	var err error
	wrap := func(l layers.Layer) layers.Layer {
		if err != nil || cfg.skipped(l.Name()) {
			return l
		}
		if _, _, ok := weightOf(l); !ok {
			return l
		}
		var q *Quantized
		if q, err = NewQuantized(be, l, cfg.Weight, in); err != nil {
			return l
		}
		out = append(out, q)
		return q
	}
	layers.Walk(root, func(l layers.Layer) {
		switch c := l.(type) {
		case *layers.Sequential:
			for i, ch := range c.Layers {
				c.Layers[i] = wrap(ch)
			}
		case *layers.Residual:
			c.Body = wrap(c.Body)
		case *layers.Block:
			c.Body = wrap(c.Body)
		}
	})
	if err != nil {
		return nil, err
	}
	// Every quantizable layer must now be wrapped or skipped.
	inside := map[layers.Layer]bool{}
	layers.Walk(root, func(l layers.Layer) {
		if q, ok := l.(*Quantized); ok {
			inside[q.Layer] = true
		}
	})
	layers.Walk(root, func(l layers.Layer) {
		if _, _, ok := weightOf(l); ok && err == nil && !inside[l] && !cfg.skipped(l.Name()) {
			err = fmt.Errorf("layers: quantize: %s (%T) sits in a container QuantizeModel cannot rewrite", l.Name(), l)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FakeQuants returns every quantizer of qs, weights and inputs, in order.
func FakeQuants(qs []*Quantized) []*FakeQuant {
	var fs []*FakeQuant
	for _, q := range qs {
		fs = append(fs, q.Quantizers()...)
	}
	return fs
}

// FreezeObservers freezes every quantizer's observer (LSQ quantizers start
// learning their scales).
func FreezeObservers(qs []*Quantized) {
	for _, f := range FakeQuants(qs) {
		f.FreezeObserver()
	}
}

// SetFakeQuant enables or disables fake quantization in every quantizer.
func SetFakeQuant(qs []*Quantized, on bool) {
	for _, f := range FakeQuants(qs) {
		f.SetFakeQuant(on)
	}
}

// SetCalibration lets every quantizer's observer run in evaluation mode.
func SetCalibration(qs []*Quantized, on bool) {
	for _, f := range FakeQuants(qs) {
		f.SetCalibration(on)
	}
}

// State returns the state of every quantizer of qs, for a checkpoint
// (names are unique: each starts with its layer's name).
func State(qs []*Quantized) []StateTensor {
	var ts []StateTensor
	for _, f := range FakeQuants(qs) {
		ts = append(ts, f.State()...)
	}
	return ts
}

// LoadState restores every quantizer of qs from ts; it stops at the
// first quantizer whose state is missing or invalid.
func LoadState(qs []*Quantized, ts []StateTensor) error {
	for _, f := range FakeQuants(qs) {
		if err := f.LoadState(ts); err != nil {
			return err
		}
	}
	return nil
}
