package onnx

import (
	"errors"
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/qat"
)

// ErrUnsupported is wrapped by the error for a layer that has no ONNX
// spelling in this exporter (a custom layer, or a GELU form it does not
// know).
var ErrUnsupported = errors.New("no ONNX equivalent")

// emitter writes layers into a graph. Every value it passes between layers
// is an NHWC activation (or [N, C] after pooling), as in nextconv.
type emitter struct {
	g     *graph
	be    kernels.Backend
	uint8 bool // store int8 activation grids as uint8 (Options.UInt8Activations)
}

// emit writes l applied to the value x and returns the output's name.
func (e *emitter) emit(l layers.Layer, x string) (string, error) {
	switch v := l.(type) {
	case *layers.Sequential:
		var err error
		for _, c := range v.Layers {
			if x, err = e.emit(c, x); err != nil {
				return "", err
			}
		}
		return x, nil
	case *layers.Block:
		return e.residual(v.Name(), v.Body, x)
	case *layers.Residual:
		return e.residual(v.Name(), v.Body, x)
	case *qat.Quantized:
		return e.quantized(v, x)
	case *qat.FakeQuant:
		return e.qdq(v, x)
	case *layers.Conv2D:
		w, err := e.param(v.Weight)
		if err != nil {
			return "", err
		}
		return e.conv(v.Name(), x, w, v.Bias, v.K, v.Stride, v.Pad, v.Groups)
	case *layers.DWConv:
		w, err := e.param(v.Weight)
		if err != nil {
			return "", err
		}
		return e.conv(v.Name(), x, w, v.Bias, v.K, v.Stride, v.K/2, v.C)
	case *layers.Linear:
		w, err := e.linearWeight(v)
		if err != nil {
			return "", err
		}
		return e.linear(v, x, w)
	case *layers.LayerNorm:
		return e.layerNorm(v.Name(), x, v.Weight, v.Bias, v.Eps)
	case *layers.LayerNormGELU:
		y, err := e.layerNorm(v.Name(), x, v.Weight, v.Bias, v.Eps)
		if err != nil {
			return "", err
		}
		return e.gelu(v.Name(), y, v.Approx)
	case *layers.GELU:
		return e.gelu(v.Name(), x, v.Approx)
	case *layers.GRN:
		return e.grn(v, x)
	case *layers.LayerScale:
		g, err := e.param(v.Gamma)
		if err != nil {
			return "", err
		}
		return e.g.node("Mul", v.Name()+"/Mul", []string{x, g}), nil
	case *layers.DropPath:
		return x, nil // the identity at inference
	case *layers.GlobalAvgPool:
		return e.g.node("ReduceMean", v.Name()+"/ReduceMean", []string{x}, attrInts("axes", 1, 2), attrInt("keepdims", 0)), nil
	}
	return "", fmt.Errorf("onnx: layer %s (%T): %w", l.Name(), l, ErrUnsupported)
}

// residual writes x + body(x).
func (e *emitter) residual(name string, body layers.Layer, x string) (string, error) {
	y, err := e.emit(body, x)
	if err != nil {
		return "", err
	}
	return e.g.node("Add", name+"/Add", []string{x, y}), nil
}

// download returns a parameter's values.
func (e *emitter) download(p *layers.Param) ([]float32, error) {
	v := make([]float32, p.Value.Len())
	if err := e.be.Download(v, p.Value); err != nil {
		return nil, fmt.Errorf("onnx: reading %s: %w", p.Name, err)
	}
	return v, nil
}

// param adds a parameter as a float initializer named after it; nil gives "".
func (e *emitter) param(p *layers.Param) (string, error) {
	if p == nil {
		return "", nil
	}
	v, err := e.download(p)
	if err != nil {
		return "", err
	}
	return e.g.floats(p.Name, p.Shape(), v), nil
}

// linearWeight adds a Linear's weight [Out, In] transposed to the [In, Out]
// that MatMul multiplies by.
func (e *emitter) linearWeight(l *layers.Linear) (string, error) {
	v, err := e.download(l.Weight)
	if err != nil {
		return "", err
	}
	return e.g.floats(l.Weight.Name, []int{l.In, l.Out}, transpose(v, l.Out, l.In)), nil
}

// transpose returns the [cols, rows] transpose of a row-major [rows, cols]
// matrix.
func transpose[T any](v []T, rows, cols int) []T {
	t := make([]T, len(v))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = v[r*cols+c]
		}
	}
	return t
}

// conv writes a square convolution of the NHWC value x with weight w
// [COut, CIn/group, K, K] (an initializer or a DequantizeLinear output):
// Transpose to NCHW, Conv, Transpose back.
func (e *emitter) conv(name, x, w string, bias *layers.Param, k, stride, pad, group int) (string, error) {
	in := []string{e.g.node("Transpose", name+"/ToNCHW", []string{x}, attrInts("perm", 0, 3, 1, 2)), w}
	if bias != nil {
		b, err := e.param(bias)
		if err != nil {
			return "", err
		}
		in = append(in, b)
	}
	p := int64(pad)
	y := e.g.node("Conv", name+"/Conv", in,
		attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(stride), int64(stride)),
		attrInts("pads", p, p, p, p), attrInt("group", int64(group)))
	return e.g.node("Transpose", name+"/ToNHWC", []string{y}, attrInts("perm", 0, 2, 3, 1)), nil
}

// linear writes x·w + b on the last axis, w [In, Out].
func (e *emitter) linear(l *layers.Linear, x, w string) (string, error) {
	y := e.g.node("MatMul", l.Name()+"/MatMul", []string{x, w})
	if l.Bias == nil {
		return y, nil
	}
	b, err := e.param(l.Bias)
	if err != nil {
		return "", err
	}
	return e.g.node("Add", l.Name()+"/Add", []string{y, b}), nil
}

// layerNorm writes LayerNormalization over the last (channel) axis.
func (e *emitter) layerNorm(name, x string, weight, bias *layers.Param, eps float64) (string, error) {
	w, err := e.param(weight)
	if err != nil {
		return "", err
	}
	b, err := e.param(bias)
	if err != nil {
		return "", err
	}
	return e.g.node("LayerNormalization", name+"/LayerNormalization", []string{x, w, b},
		attrInt("axis", -1), attrFloat("epsilon", float32(eps))), nil
}

// gelu writes GELU from standard ops: the erf form 0.5·x·(1 + erf(x/√2)),
// or the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's
// approximate="tanh").
func (e *emitter) gelu(name, x string, approx kernels.GELUApprox) (string, error) {
	g := e.g
	var t string
	switch approx {
	case kernels.GELUErf:
		t = g.node("Erf", name+"/Erf", []string{g.node("Div", name+"/Div", []string{x, g.scalar(math.Sqrt2)})})
	case kernels.GELUTanh:
		x3 := g.node("Mul", name+"/Cube", []string{g.node("Mul", name+"/Square", []string{x, x}), x})
		inner := g.node("Add", name+"/Inner", []string{x, g.node("Mul", name+"/Mul3", []string{x3, g.scalar(0.044715)})})
		t = g.node("Tanh", name+"/Tanh", []string{g.node("Mul", name+"/MulC", []string{inner, g.scalar(float32(math.Sqrt(2 / math.Pi)))})})
	default:
		return "", fmt.Errorf("onnx: layer %s: GELU form %d: %w", name, approx, ErrUnsupported)
	}
	y := g.node("Mul", name+"/MulX", []string{x, g.node("Add", name+"/Add1", []string{t, g.scalar(1)})})
	return g.node("Mul", name+"/MulHalf", []string{y, g.scalar(0.5)}), nil
}

// grn writes Global Response Normalization on NHWC x:
// g = ‖x‖₂ over H, W; n = g/(mean_c g + eps); y = gamma·(x·n) + beta + x.
func (e *emitter) grn(l *layers.GRN, x string) (string, error) {
	gamma, err := e.param(l.Gamma)
	if err != nil {
		return "", err
	}
	beta, err := e.param(l.Beta)
	if err != nil {
		return "", err
	}
	g, name := e.g, l.Name()
	norm := g.node("ReduceL2", name+"/ReduceL2", []string{x}, attrInts("axes", 1, 2), attrInt("keepdims", 1))
	mean := g.node("ReduceMean", name+"/ReduceMean", []string{norm}, attrInts("axes", -1), attrInt("keepdims", 1))
	n := g.node("Div", name+"/Div", []string{norm, g.node("Add", name+"/AddEps", []string{mean, g.scalar(float32(l.Eps))})})
	y := g.node("Mul", name+"/MulGamma", []string{gamma, g.node("Mul", name+"/MulN", []string{x, n})})
	return g.node("Add", name+"/AddX", []string{g.node("Add", name+"/AddBeta", []string{y, beta}), x}), nil
}
