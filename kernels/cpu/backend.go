// Package cpu is the pure-Go [kernels.Backend]: the reference every other
// backend is tested against, and a usable trainer on a small machine.
//
// [New] computes in float32, as the GPU does; [New64] in float64, which the
// finite-difference gradient checks use. Loops run on all cores
// (GOMAXPROCS goroutines over rows or samples); matrix products go through
// OpenBLAS, loaded at run time, with gonum's pure-Go BLAS as the fallback
// (see gemm.go).
package cpu

import (
	"fmt"
	"runtime"

	"github.com/nextconv/nextconv/kernels"
)

// Float is the element type the generic op implementations are written for.
type Float interface{ ~float32 | ~float64 }

// Backend is the CPU implementation of [kernels.Backend]. Its tensors hold
// [kernels.F32] or [kernels.F64] storage.
type Backend struct {
	dt      kernels.DType
	workers int
}

var _ kernels.Backend = (*Backend)(nil)

// New returns a float32 CPU backend using GOMAXPROCS worker goroutines.
func New() *Backend { return &Backend{dt: kernels.Float32, workers: runtime.GOMAXPROCS(0)} }

// New64 returns a float64 CPU backend, for gradient checks.
func New64() *Backend { return &Backend{dt: kernels.Float64, workers: runtime.GOMAXPROCS(0)} }

// Name returns "cpu" or "cpu-float64".
func (b *Backend) Name() string {
	if b.dt == kernels.Float64 {
		return "cpu-float64"
	}
	return "cpu"
}

// DType returns the backend's element type.
func (b *Backend) DType() kernels.DType { return b.dt }

// Alloc returns a zero-filled host tensor of shape s.
func (b *Backend) Alloc(s kernels.Shape) (kernels.Tensor, error) {
	if len(s) == 0 || !s.Valid() {
		return kernels.Tensor{}, fmt.Errorf("cpu alloc: shape %v has a non-positive dimension: %w", s, kernels.ErrShape)
	}
	if b.dt == kernels.Float64 {
		return kernels.Tensor{Shape: s.Clone(), Data: make(kernels.F64, s.Len())}, nil
	}
	return kernels.Tensor{Shape: s.Clone(), Data: make(kernels.F32, s.Len())}, nil
}

// Free does nothing: host memory belongs to the Go garbage collector.
func (b *Backend) Free(kernels.Tensor) {}

// Upload copies src into dst, converting to the backend's dtype.
func (b *Backend) Upload(dst kernels.Tensor, src []float32) error {
	if err := b.checkLen("upload", dst, len(src)); err != nil {
		return err
	}
	switch d := dst.Data.(type) {
	case kernels.F32:
		copy(d, src)
	case kernels.F64:
		for i, v := range src {
			d[i] = float64(v)
		}
	}
	return nil
}

// Download copies src into dst, converting to float32.
func (b *Backend) Download(dst []float32, src kernels.Tensor) error {
	if err := b.checkLen("download", src, len(dst)); err != nil {
		return err
	}
	switch s := src.Data.(type) {
	case kernels.F32:
		copy(dst, s)
	case kernels.F64:
		for i, v := range s {
			dst[i] = float32(v)
		}
	}
	return nil
}

// Zero sets every element of t to 0.
func (b *Backend) Zero(t kernels.Tensor) error {
	if err := b.checkLen("zero", t, t.Len()); err != nil {
		return err
	}
	switch d := t.Data.(type) {
	case kernels.F32:
		clear(d)
	case kernels.F64:
		clear(d)
	}
	return nil
}

// Copy copies src into dst.
func (b *Backend) Copy(dst, src kernels.Tensor) error {
	if err := b.checkLen("copy", dst, src.Len()); err != nil {
		return err
	}
	if err := b.checkLen("copy", src, dst.Len()); err != nil {
		return err
	}
	switch d := dst.Data.(type) {
	case kernels.F32:
		copy(d, src.Data.(kernels.F32))
	case kernels.F64:
		copy(d, src.Data.(kernels.F64))
	}
	return nil
}

// Sync does nothing: CPU ops finish before they return.
func (b *Backend) Sync() error { return nil }

// checkLen returns an error unless t is a non-nil tensor of the backend's
// dtype whose storage holds exactly n elements.
func (b *Backend) checkLen(op string, t kernels.Tensor, n int) error {
	if t.Nil() {
		return fmt.Errorf("cpu %s: tensor is nil: %w", op, kernels.ErrShape)
	}
	if t.Data.DType() != b.dt {
		return fmt.Errorf("cpu %s: tensor is %v, backend is %v: %w", op, t.Data.DType(), b.dt, kernels.ErrDType)
	}
	if t.Data.Len() != n || t.Len() != n {
		return fmt.Errorf("cpu %s: tensor %v holds %d elements, want %d: %w", op, t.Shape, t.Data.Len(), n, kernels.ErrShape)
	}
	return nil
}

// host returns t's elements as []T, or nil for the nil tensor. The caller
// has checked t's dtype with kernels.CheckArgs.
func host[T Float](t kernels.Tensor) []T {
	if t.Nil() {
		return nil
	}
	switch d := t.Data.(type) {
	case kernels.F32:
		return any([]float32(d)).([]T)
	case kernels.F64:
		return any([]float64(d)).([]T)
	}
	return nil
}
