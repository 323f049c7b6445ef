package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/nextconv/nextconv/export/onnx/onnxpb"
)

// graph accumulates the nodes and initializers of one ONNX graph. Value
// names are unique: nodes are named after the layer that emits them plus a
// suffix, and a repeated name gets a numeric suffix.
type graph struct {
	nodes []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	names map[string]int
	// consts maps a scalar's value to the initializer holding it, so that
	// every GELU and GRN shares one 0.5, one 1, ...
	consts map[float32]string
}

func newGraph() *graph { return &graph{names: map[string]int{}, consts: map[float32]string{}} }

// unique returns name, or name_k when name was taken.
func (g *graph) unique(name string) string {
	n := g.names[name]
	g.names[name] = n + 1
	if n == 0 {
		return name
	}
	return g.unique(fmt.Sprintf("%s_%d", name, n))
}

// node appends an op with the given inputs and one output named after
// name, and returns the output's name.
func (g *graph) node(op, name string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	out := g.unique(name)
	g.nodes = append(g.nodes, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(out),
		Input: inputs, Output: []string{out}, Attribute: attrs,
	})
	return out
}

// floats adds a float32 initializer of the given shape and returns its name.
func (g *graph) floats(name string, shape []int, v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return g.raw(name, onnxpb.TensorProto_FLOAT, shape, b)
}

// scalar returns a float32 scalar initializer holding v, shared by every
// use of the same value.
func (g *graph) scalar(v float32) string {
	if n, ok := g.consts[v]; ok {
		return n
	}
	n := g.floats(fmt.Sprintf("const_%g", v), nil, []float32{v})
	g.consts[v] = n
	return n
}

// ints8 adds an int8 (signed) or uint8 initializer holding v, which must
// fit the type.
func (g *graph) ints8(name string, signed bool, shape []int, v []int32) (string, error) {
	b := make([]byte, len(v))
	lo, hi, dt := int32(0), int32(255), onnxpb.TensorProto_UINT8
	if signed {
		lo, hi, dt = -128, 127, onnxpb.TensorProto_INT8
	}
	for i, x := range v {
		if x < lo || x > hi {
			return "", fmt.Errorf("onnx: %s: value %d does not fit %v", name, x, dt)
		}
		b[i] = byte(x)
	}
	return g.raw(name, dt, shape, b), nil
}

// int64s adds an int64 initializer (shapes for Reshape).
func (g *graph) int64s(name string, v []int64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return g.raw(name, onnxpb.TensorProto_INT64, []int{len(v)}, b)
}

func (g *graph) raw(name string, dt onnxpb.TensorProto_DataType, shape []int, data []byte) string {
	name = g.unique(name)
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	g.inits = append(g.inits, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(dt)), Dims: dims, RawData: data,
	})
	return name
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// valueInfo describes a float32 tensor whose first dimension is the
// symbolic "batch".
func valueInfo(name string, dims ...int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
	}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)},
		})
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape,
		}}},
	}
}
