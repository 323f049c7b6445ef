//go:build cuda && cgo

package cuda

/*
#cgo LDFLAGS: -lcublas
#include <stdint.h>
#include <cublas_v2.h>

// gorgonia.org/cu/blas keeps its cublasHandle_t unexported and has no call
// for a stream or a math mode; these act on that same handle.
static int nc_cublas_set_stream(uintptr_t h, uintptr_t stream) {
	return (int)cublasSetStream((cublasHandle_t)h, (cudaStream_t)stream);
}
static int nc_cublas_set_math_mode(uintptr_t h, int tf32) {
	return (int)cublasSetMathMode((cublasHandle_t)h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}
// nc_device_floats turns a device address into the float* that Go slices
// handed to cu/blas are built over; cu/blas only passes &s[0] on to cuBLAS.
static float* nc_device_floats(uintptr_t p) { return (float*)p; }
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	cublas "gorgonia.org/cu/blas"
)

// blasHandle is a gorgonia.org/cu/blas Standard (one cuBLAS handle) bound
// to the device's stream. It lives on the device goroutine: cuBLAS binds a
// handle to the context current at cublasCreate and runs on the calling
// thread.
type blasHandle struct {
	impl *cublas.Standard
	raw  uintptr // the cublasHandle_t inside impl
}

// newBLAS creates a handle on the current context, sets its stream (without
// it cuBLAS would run on the legacy default stream, which a non-blocking
// stream does not wait for) and its math mode.
func newBLAS(stream uintptr, tf32 bool) (*blasHandle, error) {
	impl := new(cublas.Standard)
	if err := impl.Init(); err != nil {
		return nil, err
	}
	raw, err := rawHandle(impl)
	if err != nil {
		impl.Close()
		return nil, err
	}
	h := &blasHandle{impl: impl, raw: raw}
	if st := C.nc_cublas_set_stream(C.uintptr_t(raw), C.uintptr_t(stream)); st != 0 {
		h.close()
		return nil, fmt.Errorf("cublasSetStream: %s", cublas.Status(st))
	}
	if st := C.nc_cublas_set_math_mode(C.uintptr_t(raw), cbool(tf32)); st != 0 {
		h.close()
		return nil, fmt.Errorf("cublasSetMathMode: %s", cublas.Status(st))
	}
	return h, nil
}

// rawHandle reads the cublasHandle_t that cu/blas v0.9.6 keeps in its
// unexported field h (the first field of Standard). The field's name, kind
// and offset are checked, so a different cu/blas layout is an error rather
// than a wrong pointer.
func rawHandle(impl *cublas.Standard) (uintptr, error) {
	v := reflect.ValueOf(impl).Elem()
	f, ok := v.Type().FieldByName("h")
	if !ok || f.Offset != 0 || f.Type.Kind() != reflect.Pointer || len(f.Index) != 1 {
		return 0, errors.New("gorgonia.org/cu/blas.Standard no longer starts with the cublasHandle_t field h (v0.9.6 layout); update cuda/blas_cuda.go")
	}
	h := v.Field(f.Index[0]).Pointer()
	if h == 0 {
		return 0, errors.New("cuBLAS handle is null after cublasCreate")
	}
	return h, nil
}

func (h *blasHandle) close() error { return h.impl.Close() }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// deviceFloats returns a []float32 of n elements over device memory at p,
// the form cu/blas's Sgemm takes. Go never reads or writes through it.
func deviceFloats(p DevicePtr, n int) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(C.nc_device_floats(C.uintptr_t(p)))), n)
}

// extent is the number of elements a column-major rows×cols matrix with
// leading dimension ld spans, at least 1 (cu/blas takes &s[0]).
func extent(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 1
	}
	return ld*(cols-1) + rows
}

// Sgemm queues C = alpha·op(A)·op(B) + beta·C on column-major matrices
// (cublasSgemm through gorgonia.org/cu/blas, on the device's stream): op(A)
// is m×k, op(B) is k×n and C is m×n, with leading dimensions lda, ldb, ldc.
// Sizes and leading dimensions are checked at once as cuBLAS would (an
// error naming them); a cuBLAS failure is kept for Synchronize. With TF32
// on (WithTF32, NEXTCONV_CUDA_TF32=1) the products use TF32 tensor cores.
// As in cuBLAS, m == 0 or n == 0 does nothing, and k == 0 or alpha == 0
// scales C by beta without reading A and B.
func (d *Device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	invalid := func(format string, args ...any) error {
		return &Error{Op: "sgemm", Err: fmt.Errorf("m=%d n=%d k=%d lda=%d ldb=%d ldc=%d: %s", m, n, k, lda, ldb, ldc, fmt.Sprintf(format, args...))}
	}
	for _, v := range []int{m, n, k, lda, ldb, ldc} {
		if v < 0 || v > math.MaxInt32 {
			return invalid("size %d out of range", v)
		}
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	switch {
	case lda < max(1, rowsA):
		return invalid("lda < %d", max(1, rowsA))
	case ldb < max(1, rowsB):
		return invalid("ldb < %d", max(1, rowsB))
	case ldc < max(1, m):
		return invalid("ldc < %d", max(1, m))
	}
	if m == 0 || n == 0 {
		return nil
	}
	if c == 0 || (k > 0 && alpha != 0 && (a == 0 || b == 0)) {
		return invalid("null matrix pointer")
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	if err := d.peek(); err != nil {
		return err
	}
	return d.queue("sgemm", func() error {
		if d.blas == nil {
			h, err := newBLAS(uintptr(unsafe.Pointer(d.stream.C())), d.tf32)
			if err != nil {
				return &Error{Op: "sgemm", Err: fmt.Errorf("cuBLAS init: %w", err)}
			}
			d.blas = h
		}
		d.blas.impl.Sgemm(ta, tb, m, n, k, alpha, deviceFloats(a, extent(rowsA, colsA, lda)), lda,
			deviceFloats(b, extent(rowsB, colsB, ldb)), ldb, beta, deviceFloats(c, extent(m, n, ldc)), ldc)
		if err := d.blas.impl.Err(); err != nil {
			// cu/blas keeps the error and ignores every later call:
			// start over with a fresh handle.
			d.blas.close()
			d.blas = nil
			return &Error{Op: "sgemm", Err: fmt.Errorf("m=%d n=%d k=%d: %w", m, n, k, err)}
		}
		return nil
	})
}
