package onnx

import (
	"fmt"

	"github.com/nextconv/nextconv/export/onnx/onnxpb"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/qat"
)

// quantized writes a fake-quantized Conv2D, DWConv or Linear: the input
// through its quantizer's QuantizeLinear/DequantizeLinear pair, the weight
// as integers with a DequantizeLinear, then the float layer's op.
func (e *emitter) quantized(q *qat.Quantized, x string) (string, error) {
	var err error
	if q.Input != nil {
		if x, err = e.qdq(q.Input, x); err != nil {
			return "", err
		}
	}
	switch l := q.Layer.(type) {
	case *layers.Conv2D:
		w, err := e.quantWeight(q.Weight, l.Weight, false)
		if err != nil {
			return "", err
		}
		return e.conv(l.Name(), x, w, l.Bias, l.K, l.Stride, l.Pad, l.Groups)
	case *layers.DWConv:
		w, err := e.quantWeight(q.Weight, l.Weight, false)
		if err != nil {
			return "", err
		}
		return e.conv(l.Name(), x, w, l.Bias, l.K, l.Stride, l.K/2, l.C)
	case *layers.Linear:
		w, err := e.quantWeight(q.Weight, l.Weight, true)
		if err != nil {
			return "", err
		}
		return e.linear(l, x, w)
	}
	return "", fmt.Errorf("onnx: quantized layer %s (%T): %w", q.Name(), q.Layer, ErrUnsupported)
}

// quantWeight adds weight p, quantized by f exactly as the fake-quantized
// forward pass rounds it (qat.FakeQuant.Quantize), as an int8
// initializer followed by a DequantizeLinear with f's scales and zero
// points, and returns the DequantizeLinear's output. With transposed, p is a
// Linear's [Out, In] weight, written as the [In, Out] MatMul multiplies by,
// which moves a per-channel axis a to 1 − a.
func (e *emitter) quantWeight(f *qat.FakeQuant, p *layers.Param, transposed bool) (string, error) {
	v, err := e.download(p)
	if err != nil {
		return "", err
	}
	ints, err := f.Quantize(v, p.Shape())
	if err != nil {
		return "", fmt.Errorf("onnx: quantizing %s: %w", p.Name, err)
	}
	scheme := f.Config().Scheme
	shape, axis := []int(p.Shape()), scheme.Axis
	if transposed {
		ints = transpose(ints, shape[0], shape[1])
		shape = []int{shape[1], shape[0]}
		axis = 1 - axis
	}
	signed, err := storage(f)
	if err != nil {
		return "", err
	}
	w, err := e.g.ints8(p.Name+"_quantized", signed, shape, ints)
	if err != nil {
		return "", err
	}
	scale, zp, err := e.qparams(f, signed, 0)
	if err != nil {
		return "", err
	}
	return e.g.node("DequantizeLinear", p.Name+"/DequantizeLinear", []string{w, scale, zp}, attrsFor(scheme.PerChannel, axis)...), nil
}

// qdq writes an activation fake quantizer: QuantizeLinear then
// DequantizeLinear with f's qparams. With e.uint8 a signed grid is stored
// as uint8 with its zero point moved up by 128 — the same values, since
// saturate(round(x/s) + z + 128) over 0..255 is the int8 result plus 128 —
// so that ONNX Runtime multiplies uint8 activations by int8 weights, its
// fast path on x86 without VNNI. A grid narrower than the 8-bit type
// that stores it (a low-bit scheme) is first clipped to
// [(QMin − z)·s, (QMax − z)·s], so that rounding saturates where f's does.
func (e *emitter) qdq(f *qat.FakeQuant, x string) (string, error) {
	scheme := f.Config().Scheme
	signed, err := storage(f)
	if err != nil {
		return "", err
	}
	var shift int32
	if signed && e.uint8 {
		signed, shift = false, 128
	}
	scale, zp, err := e.qparams(f, signed, shift)
	if err != nil {
		return "", err
	}
	attrs := attrsFor(scheme.PerChannel, scheme.Axis)
	if lo, hi := typeRange(signed); scheme.QMin+int(shift) > lo || scheme.QMax+int(shift) < hi {
		if scheme.PerChannel {
			return "", fmt.Errorf("onnx: %s: a per-channel grid %d..%d narrower than 8 bits: %w", f.Name(), scheme.QMin, scheme.QMax, ErrUnsupported)
		}
		s, z, err := f.QParams()
		if err != nil {
			return "", err
		}
		lo := e.g.scalar(float32(scheme.QMin-int(z[0])) * s[0])
		hi := e.g.scalar(float32(scheme.QMax-int(z[0])) * s[0])
		x = e.g.node("Clip", f.Name()+"/Clip", []string{x, lo, hi})
	}
	q := e.g.node("QuantizeLinear", f.Name()+"/QuantizeLinear", []string{x, scale, zp}, attrs...)
	return e.g.node("DequantizeLinear", f.Name()+"/DequantizeLinear", []string{q, scale, zp}, attrs...), nil
}

// qparams adds f's scales (float32) and zero points plus shift (int8 or
// uint8), one per channel or one scalar per tensor, and returns their names.
func (e *emitter) qparams(f *qat.FakeQuant, signed bool, shift int32) (scale, zp string, err error) {
	s, z, err := f.QParams()
	if err != nil {
		return "", "", fmt.Errorf("onnx: %w", err)
	}
	var shape []int
	if f.Config().Scheme.PerChannel {
		shape = []int{len(s)}
	}
	for i := range z {
		z[i] += shift
	}
	scale = e.g.floats(f.Name()+".scale", shape, s)
	zp, err = e.g.ints8(f.Name()+".zero_point", signed, shape, z)
	return scale, zp, err
}

// storage returns whether f's integer grid is stored as int8 (true) or
// uint8 (false), or an error when it fits neither.
func storage(f *qat.FakeQuant) (signed bool, err error) {
	s := f.Config().Scheme
	switch {
	case s.QMin >= -128 && s.QMax <= 127:
		return true, nil
	case s.QMin >= 0 && s.QMax <= 255:
		return false, nil
	}
	return false, fmt.Errorf("onnx: %s: grid %d..%d fits neither int8 nor uint8: %w", f.Name(), s.QMin, s.QMax, ErrUnsupported)
}

// typeRange returns the int8 or uint8 range.
func typeRange(signed bool) (lo, hi int) {
	if signed {
		return -128, 127
	}
	return 0, 255
}

// attrsFor returns the axis attribute of a per-channel QuantizeLinear or
// DequantizeLinear, none for a per-tensor one.
func attrsFor(perChannel bool, axis int) []*onnxpb.AttributeProto {
	if !perChannel {
		return nil
	}
	return []*onnxpb.AttributeProto{attrInt("axis", int64(axis))}
}
