//go:build cuda && cgo

package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// newBLAS creates the device's cuBLAS handle on the current context and
// sets its stream (without it cuBLAS would run on the legacy default
// stream, which a non-blocking stream does not wait for) and its math
// mode. It runs on the device goroutine: cuBLAS binds a handle to the
// context current at cublasCreate.
func (d *Device) newBLAS() error {
	h, err := d.blasLib.Create()
	if err != nil {
		return err
	}
	err = d.blasLib.SetStream(h, uintptr(unsafe.Pointer(d.stream.C())))
	if err == nil {
		err = d.blasLib.SetMathMode(h, d.tf32)
	}
	if err != nil {
		d.blasLib.Destroy(h)
		return err
	}
	d.blas = h
	return nil
}

// blasRelease formats a CUBLAS_VERSION (major·10000 + minor·100 + patch)
// as "12.2.5".
func blasRelease(v int) string {
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// Sgemm queues C = alpha·op(A)·op(B) + beta·C on column-major matrices
// (cublasSgemm_v2 on the device's stream): op(A) is m×k, op(B) is k×n and
// C is m×n, with leading dimensions lda, ldb, ldc.
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
	rowsA, rowsB := m, k // rows of A and B as stored
	if transA {
		rowsA = k
	}
	if transB {
		rowsB = n
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
	if err := d.peek(); err != nil {
		return err
	}
	return d.queue("sgemm", func() error {
		if d.blas == 0 {
			if err := d.newBLAS(); err != nil {
				return &Error{Op: "sgemm", Err: fmt.Errorf("cuBLAS init (%s): %w", d.blasLib.BLAS.Path, err)}
			}
		}
		if err := d.blasLib.Sgemm(d.blas, transA, transB, m, n, k, alpha, uintptr(a), lda, uintptr(b), ldb, beta, uintptr(c), ldc); err != nil {
			return &Error{Op: "sgemm", Err: fmt.Errorf("m=%d n=%d k=%d: %w", m, n, k, err)}
		}
		return nil
	})
}
