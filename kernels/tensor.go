package kernels

import (
	"fmt"
	"strings"
)

// DType is the element type of a tensor's storage.
type DType uint8

const (
	// Float32 is IEEE-754 binary32, the type every backend trains in.
	Float32 DType = iota + 1
	// Float64 is IEEE-754 binary64, used by the CPU backend for gradient checks.
	Float64
	// BFloat16 is bfloat16 (the upper half of a binary32: 8 exponent and 7
	// fraction bits), the storage type of activations in bf16 mixed
	// precision ([BF16]); values are rounded to it to nearest, ties to even
	// (internal/bfloat16).
	BFloat16
)

// Size returns the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float64:
		return 8
	case BFloat16:
		return 2
	}
	return 0
}

// String returns "float32", "float64" or "bfloat16".
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Shape lists a tensor's dimension sizes, outermost first: an NHWC activation
// is Shape{N, H, W, C}.
type Shape []int

// Len returns the number of elements, the product of the dimensions (1 for an
// empty shape).
func (s Shape) Len() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether s and o have the same rank and dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that does not share memory with it.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

// String formats s as "[2 5 7 3]".
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Valid reports whether every dimension is positive.
func (s Shape) Valid() bool {
	for _, d := range s {
		if d <= 0 {
			return false
		}
	}
	return true
}

// Storage is a backend's memory for a run of elements of one DType. Host
// backends use [F32], [F64] and [BF16Host]; device backends their own handles.
type Storage interface {
	// Len returns the number of elements.
	Len() int
	// DType returns the element type.
	DType() DType
	// Slice returns a view of elements [off, off+n) sharing memory with the
	// receiver. It panics if the range is out of bounds, like a Go slice.
	Slice(off, n int) Storage
}

// F32 is host storage of float32 elements.
type F32 []float32

// Len returns len(s).
func (s F32) Len() int { return len(s) }

// DType returns Float32.
func (s F32) DType() DType { return Float32 }

// Slice returns s[off : off+n] with its capacity clipped to n.
func (s F32) Slice(off, n int) Storage { return s[off : off+n : off+n] }

// F64 is host storage of float64 elements.
type F64 []float64

// Len returns len(s).
func (s F64) Len() int { return len(s) }

// DType returns Float64.
func (s F64) DType() DType { return Float64 }

// Slice returns s[off : off+n] with its capacity clipped to n.
func (s F64) Slice(off, n int) Storage { return s[off : off+n : off+n] }

// BF16Host is the CPU backend's storage of [BFloat16] elements, the
// emulation of bf16 activations: each element is kept as the float32 of the
// same value, and every value in it is exactly representable in bfloat16
// (ops round to nearest even when they store into it). Reading it as
// float32 is exact.
type BF16Host []float32

// Len returns len(s).
func (s BF16Host) Len() int { return len(s) }

// DType returns BFloat16.
func (s BF16Host) DType() DType { return BFloat16 }

// Slice returns s[off : off+n] with its capacity clipped to n.
func (s BF16Host) Slice(off, n int) Storage { return s[off : off+n : off+n] }

// Tensor is a handle to a contiguous, row-major array of Shape.Len() elements
// owned by a [Backend]. Copying a Tensor copies the handle, not the data. The
// zero Tensor (Data == nil) stands for an absent optional argument.
type Tensor struct {
	Shape Shape
	Data  Storage
}

// Nil reports whether t is the absent tensor.
func (t Tensor) Nil() bool { return t.Data == nil }

// Len returns the number of elements, t.Shape.Len().
func (t Tensor) Len() int { return t.Shape.Len() }

// Reshape returns a view of t with shape s. It returns an error wrapping
// [ErrShape] if s has a different number of elements.
func (t Tensor) Reshape(s Shape) (Tensor, error) {
	if s.Len() != t.Len() {
		return Tensor{}, fmt.Errorf("kernels: reshape %v to %v: element count %d != %d: %w", t.Shape, s, t.Len(), s.Len(), ErrShape)
	}
	return Tensor{Shape: s.Clone(), Data: t.Data}, nil
}

// View returns the tensor of shape s whose elements start at element off of
// t. It returns an error wrapping [ErrShape] if the view does not fit in t.
func (t Tensor) View(off int, s Shape) (Tensor, error) {
	if off < 0 || !s.Valid() || off+s.Len() > t.Len() {
		return Tensor{}, fmt.Errorf("kernels: view %v at offset %d of %v does not fit: %w", s, off, t.Shape, ErrShape)
	}
	return Tensor{Shape: s.Clone(), Data: t.Data.Slice(off, s.Len())}, nil
}

// String describes t as "float32[2 5 7 3]", or "nil" for the absent tensor.
func (t Tensor) String() string {
	if t.Nil() {
		return "nil"
	}
	return t.Data.DType().String() + t.Shape.String()
}

// Host32 returns t's elements if t lives in host float32 storage, else nil.
func (t Tensor) Host32() []float32 {
	s, _ := t.Data.(F32)
	return s
}

// Host64 returns t's elements if t lives in host float64 storage, else nil.
func (t Tensor) Host64() []float64 {
	s, _ := t.Data.(F64)
	return s
}
