// Package cpu is the pure-Go [kernels.Backend]: the reference every other
// backend is tested against, and a usable trainer on a small machine.
//
// [New] computes in float32, as the GPU does; [New64] in float64, which the
// finite-difference gradient checks use. In [kernels.BF16] precision the
// float32 backend emulates bf16 mixed precision (docs/BF16.md): activations
// live in [kernels.BF16Host] storage and every op rounds its bf16 outputs to
// nearest even where the CUDA backend stores bf16, so that the GPU's bf16
// kernels are checked against it. Loops run on all cores
// (GOMAXPROCS goroutines over rows or samples); matrix products go through
// OpenBLAS, loaded at run time, with gonum's pure-Go BLAS as the fallback
// (see gemm.go).
package cpu

import (
	"fmt"
	"runtime"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// Float is the element type the generic op implementations are written for.
type Float interface{ ~float32 | ~float64 }

// Backend is the CPU implementation of [kernels.Backend]. Its tensors hold
// [kernels.F32] or [kernels.F64] storage.
type Backend struct {
	dt      kernels.DType
	workers int
	prec    kernels.Precision // "" means FP32
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

// SetPrecision selects FP32 or BF16 (the emulation of bf16 mixed precision,
// float32 backend only). TF32 is refused: the CPU has no TF32 arithmetic to
// check against, so it would train as FP32 under a false name.
func (b *Backend) SetPrecision(p kernels.Precision) error {
	switch {
	case p == kernels.FP32:
	case p == kernels.BF16 && b.dt == kernels.Float32:
	case p == kernels.BF16:
		return fmt.Errorf("%s backend: precision %q is not supported (bf16 emulation runs on the float32 backend)", b.Name(), p)
	case p == kernels.TF32:
		return fmt.Errorf("%s backend: precision %q is not supported: TF32 is a tensor-core format of NVIDIA GPUs (use \"bf16\" or \"fp32\")", b.Name(), p)
	default:
		_, err := kernels.ParsePrecision(string(p))
		return fmt.Errorf("%s backend: %w", b.Name(), err)
	}
	b.prec = p
	return nil
}

// Precision returns the precision in force, FP32 unless SetPrecision
// selected BF16.
func (b *Backend) Precision() kernels.Precision {
	if b.prec == "" {
		return kernels.FP32
	}
	return b.prec
}

// Alloc returns a zero-filled host tensor of shape s in the backend's
// dtype.
func (b *Backend) Alloc(s kernels.Shape) (kernels.Tensor, error) { return b.AllocDType(s, b.dt) }

// AllocDType returns a zero-filled host tensor of shape s and dtype dt: the
// backend's dtype, or BFloat16 ([kernels.BF16Host]) on the float32 backend.
// Other dtypes are an error wrapping kernels.ErrDType.
func (b *Backend) AllocDType(s kernels.Shape, dt kernels.DType) (kernels.Tensor, error) {
	if len(s) == 0 || !s.Valid() {
		return kernels.Tensor{}, fmt.Errorf("cpu alloc: shape %v has a non-positive dimension: %w", s, kernels.ErrShape)
	}
	switch {
	case dt == kernels.Float64 && b.dt == kernels.Float64:
		return kernels.Tensor{Shape: s.Clone(), Data: make(kernels.F64, s.Len())}, nil
	case dt == kernels.Float32 && b.dt == kernels.Float32:
		return kernels.Tensor{Shape: s.Clone(), Data: make(kernels.F32, s.Len())}, nil
	case dt == kernels.BFloat16 && b.dt == kernels.Float32:
		return kernels.Tensor{Shape: s.Clone(), Data: make(kernels.BF16Host, s.Len())}, nil
	}
	return kernels.Tensor{}, fmt.Errorf("cpu alloc %v: the %s backend does not store %v: %w", s, b.Name(), dt, kernels.ErrDType)
}

// Free does nothing: host memory belongs to the Go garbage collector.
func (b *Backend) Free(kernels.Tensor) {}

// Upload copies src into dst, converting to dst's dtype (rounding to
// nearest even into bfloat16).
func (b *Backend) Upload(dst kernels.Tensor, src []float32) error {
	if err := b.checkLen("upload", dst, len(src)); err != nil {
		return err
	}
	switch d := dst.Data.(type) {
	case kernels.F32:
		copy(d, src)
	case kernels.BF16Host:
		for i, v := range src {
			d[i] = bfloat16.Round(v)
		}
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
	case kernels.BF16Host:
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
	case kernels.BF16Host:
		clear(d)
	case kernels.F64:
		clear(d)
	}
	return nil
}

// Copy copies src into dst; from float32 into bfloat16 it rounds to
// nearest even, the other way it is exact.
func (b *Backend) Copy(dst, src kernels.Tensor) error {
	if err := b.checkLen("copy", dst, src.Len()); err != nil {
		return err
	}
	if err := b.checkLen("copy", src, dst.Len()); err != nil {
		return err
	}
	if d, ok := dst.Data.(kernels.F64); ok {
		copy(d, src.Data.(kernels.F64))
		return nil
	}
	copy(host[float32](dst), host[float32](src))
	b.roundBF16(dst)
	return nil
}

// Sync does nothing: CPU ops finish before they return.
func (b *Backend) Sync() error { return nil }

// checkLen returns an error unless t is a non-nil host tensor of the
// backend's dtype (or bfloat16 on the float32 backend) whose storage holds
// exactly n elements.
func (b *Backend) checkLen(op string, t kernels.Tensor, n int) error {
	if t.Nil() {
		return fmt.Errorf("cpu %s: tensor is nil: %w", op, kernels.ErrShape)
	}
	if t.Data.Len() != n || t.Len() != n {
		return fmt.Errorf("cpu %s: tensor %v holds %d elements, want %d: %w", op, t.Shape, t.Data.Len(), n, kernels.ErrShape)
	}
	return b.checkArgs("cpu "+op, kernels.Arg{Name: "tensor", T: t, Want: t.Shape})
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
	case kernels.BF16Host:
		return any([]float32(d)).([]T)
	case kernels.F64:
		return any([]float64(d)).([]T)
	}
	return nil
}
