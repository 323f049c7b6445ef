// Package interop converts between nextconv's backend tensors and
// gorgonia.org/tensor's *tensor.Dense, so that gorgonia (or anything else
// built on gorgonia.org/tensor) can feed and check nextconv's ops.
//
// Conversions copy: the Dense never shares memory with a backend tensor.
// Shapes are kept as they are and no axes are permuted, so an NHWC
// activation [N, H, W, C] becomes a row-major Dense of shape (N, H, W, C)
// whose element At(n, h, w, c) is the tensor's element ((n*H+h)*W+w)*C+c,
// and weights keep PyTorch's layouts ((out, in) for Linear, OIHW for
// convolutions). A gorgonia graph written for NCHW must transpose itself.
//
// Importing this package pulls gorgonia.org/tensor (not gorgonia itself)
// into the importer's build.
package interop

import (
	"errors"
	"fmt"

	"gorgonia.org/tensor"

	"github.com/nextconv/nextconv/kernels"
)

// ToDense copies t out of the backend into a new row-major Dense of the
// same shape and element type: float32 tensors through mem.Download (any
// backend), float64 tensors from host storage without rounding. It returns
// an error if t is nil, or if it is float64 in storage other than host
// memory (the Memory interface moves only float32).
func ToDense(mem kernels.Memory, t kernels.Tensor) (*tensor.Dense, error) {
	if t.Nil() {
		return nil, errors.New("interop: ToDense of a nil tensor")
	}
	shape := tensor.Shape(t.Shape.Clone())
	switch t.Data.DType() {
	case kernels.Float32:
		v := make([]float32, t.Len())
		if err := mem.Download(v, t); err != nil {
			return nil, fmt.Errorf("interop: ToDense %v: %w", t, err)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v)), nil
	case kernels.Float64:
		h := t.Host64()
		if h == nil {
			return nil, fmt.Errorf("interop: ToDense %v: float64 tensor of %s is not in host memory", t, mem.Name())
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), h...))), nil
	}
	return nil, fmt.Errorf("interop: ToDense %v: unsupported element type: %w", t, kernels.ErrDType)
}

// FromDense allocates a tensor on mem with d's shape (a scalar becomes
// [1]) and copies d's elements into it in row-major logical order, whatever
// d's memory layout (transposed, sliced and column-major Dense are read
// element by element). float32 values convert exactly; float64 values are
// stored without rounding on a host float64 backend and rounded to float32
// on a float32 one. It returns an error for a nil or masked Dense, an
// element type other than float32 or float64, or a float64 backend whose
// tensors are not in host memory.
func FromDense(mem kernels.Memory, d *tensor.Dense) (kernels.Tensor, error) {
	if d == nil {
		return kernels.Tensor{}, errors.New("interop: FromDense of a nil Dense")
	}
	if d.IsMasked() {
		return kernels.Tensor{}, fmt.Errorf("interop: FromDense %v: masked Dense is not supported", d.Shape())
	}
	shape := kernels.Shape(d.Shape().Clone())
	if len(shape) == 0 {
		shape = kernels.Shape{1}
	}
	var err error
	var v32 []float32
	var v64 []float64
	switch d.Dtype() {
	case tensor.Float32:
		v32, err = rowMajor[float32](d)
	case tensor.Float64:
		v64, err = rowMajor[float64](d)
	default:
		return kernels.Tensor{}, fmt.Errorf("interop: FromDense %v: element type %v is not float32 or float64: %w", d.Shape(), d.Dtype(), kernels.ErrDType)
	}
	if err != nil {
		return kernels.Tensor{}, err
	}
	t, err := mem.Alloc(shape)
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("interop: FromDense: %w", err)
	}
	if v64 != nil && mem.DType() == kernels.Float64 {
		h := t.Host64()
		if h == nil {
			mem.Free(t)
			return kernels.Tensor{}, fmt.Errorf("interop: FromDense: float64 tensors of %s are not in host memory", mem.Name())
		}
		copy(h, v64)
		return t, nil
	}
	if v32 == nil {
		v32 = make([]float32, len(v64))
		for i, x := range v64 {
			v32[i] = float32(x)
		}
	}
	if err := mem.Upload(t, v32); err != nil {
		mem.Free(t)
		return kernels.Tensor{}, fmt.Errorf("interop: FromDense: %w", err)
	}
	return t, nil
}

// rowMajor returns d's elements in row-major logical order: its backing
// slice when d is a plain contiguous row-major Dense, otherwise a copy read
// element by element through d.At.
func rowMajor[T float32 | float64](d *tensor.Dense) ([]T, error) {
	if d.IsScalar() {
		v, ok := d.ScalarValue().(T)
		if !ok {
			return nil, fmt.Errorf("interop: scalar Dense holds %T", d.ScalarValue())
		}
		return []T{v}, nil
	}
	n := d.Shape().TotalSize()
	if !d.RequiresIterator() && d.DataOrder().IsRowMajor() {
		if v, ok := d.Data().([]T); ok && len(v) == n {
			return v, nil
		}
	}
	out := make([]T, n)
	shape := d.Shape()
	coord := make([]int, len(shape))
	for i := range out {
		x, err := d.At(coord...)
		if err != nil {
			return nil, fmt.Errorf("interop: reading Dense %v at %v: %w", shape, coord, err)
		}
		out[i] = x.(T)
		for a := len(coord) - 1; a >= 0; a-- { // next coordinate, last axis fastest
			coord[a]++
			if coord[a] < shape[a] {
				break
			}
			coord[a] = 0
		}
	}
	return out, nil
}
