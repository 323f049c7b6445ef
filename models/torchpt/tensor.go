package torchpt

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/nextconv/nextconv/internal/float16"
)

// tensors converts a state dict's entries to float32 tensors in order. A
// non-tensor value, a non-float dtype or a view reaching outside its
// storage is an error naming the entry.
func tensors(sd *types.OrderedDict, lim Limits) ([]Tensor, error) {
	out := make([]Tensor, 0, sd.Len())
	for e := sd.List.Front(); e != nil; e = e.Next() {
		entry := e.Value.(*types.OrderedDictEntry)
		name, ok := entry.Key.(string)
		if !ok {
			return nil, fmt.Errorf("torchpt: state dict key %v is a %T, not a string", entry.Key, entry.Key)
		}
		rt, ok := entry.Value.(*rawTensor)
		if !ok {
			return nil, fmt.Errorf("torchpt: state dict entry %s is a %T, not a tensor", name, entry.Value)
		}
		t, err := rt.float32(name, lim)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// float32 gathers the view into a contiguous float32 tensor.
func (rt *rawTensor) float32(name string, lim Limits) (Tensor, error) {
	if len(rt.size) > lim.MaxDims || len(rt.stride) != len(rt.size) {
		return Tensor{}, fmt.Errorf("torchpt: tensor %s has %d sizes and %d strides (at most %d dimensions)", name, len(rt.size), len(rt.stride), lim.MaxDims)
	}
	st := rt.storage
	n, last := 1, rt.offset // element count and the highest storage index the view reaches
	for i, d := range rt.size {
		if d < 0 || rt.stride[i] < 0 {
			return Tensor{}, fmt.Errorf("torchpt: tensor %s has size %v, stride %v", name, rt.size, rt.stride)
		}
		if d == 0 {
			n = 0
			break
		}
		if n > math.MaxInt32/d {
			return Tensor{}, fmt.Errorf("torchpt: tensor %s of size %v is too large", name, rt.size)
		}
		n *= d
		last += (d - 1) * rt.stride[i]
	}
	elems := len(st.data) / st.size
	if rt.offset < 0 || (n > 0 && last >= elems) {
		return Tensor{}, fmt.Errorf("torchpt: tensor %s (offset %d, size %v, stride %v) reaches past its storage of %d elements", name, rt.offset, rt.size, rt.stride, elems)
	}
	conv, err := converter(st.dtype)
	if err != nil {
		return Tensor{}, fmt.Errorf("torchpt: tensor %s: %w", name, err)
	}
	data := make([]float32, n)
	idx := make([]int, len(rt.size))
	for i := range data {
		off := rt.offset
		for d, k := range idx {
			off += k * rt.stride[d]
		}
		data[i] = conv(st.data[off*st.size:])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < rt.size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return Tensor{Name: name, Shape: append([]int(nil), rt.size...), Data: data}, nil
}

// converter returns the little-endian decoder of one float element.
func converter(dt dtype) (func([]byte) float32, error) {
	switch dt.name {
	case "torch.FloatStorage":
		return func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }, nil
	case "torch.DoubleStorage":
		return func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }, nil
	case "torch.BFloat16Storage":
		return func(b []byte) float32 { return float16.BFloat16ToFloat32(binary.LittleEndian.Uint16(b)) }, nil
	case "torch.HalfStorage":
		return func(b []byte) float32 { return float16.HalfToFloat32(binary.LittleEndian.Uint16(b)) }, nil
	}
	return nil, fmt.Errorf("dtype %s is not a float type", dt.name)
}
