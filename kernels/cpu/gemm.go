package cpu

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/nextconv/nextconv/kernels/cpu/internal/openblas"
)

// blasEnv names the environment variable that picks the BLAS: "gonum" forces
// the pure-Go fallback; anything else (or unset) tries OpenBLAS first.
const blasEnv = "NEXTCONV_BLAS"

// blasImpl is one BLAS implementation of the row-major GEMMs the ops use.
type blasImpl struct {
	name  string
	sgemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemm func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
}

var (
	blasOnce   sync.Once
	activeBLAS *blasImpl
)

// currentBLAS returns the implementation chosen on first use: OpenBLAS when
// libopenblas.so.0 loads (cgo builds only) and NEXTCONV_BLAS is not "gonum",
// else gonum.
func currentBLAS() *blasImpl {
	blasOnce.Do(func() {
		if os.Getenv(blasEnv) != "gonum" {
			activeBLAS = loadOpenBLAS(runtime.GOMAXPROCS(0))
		}
		if activeBLAS == nil {
			activeBLAS = gonumBLAS()
		}
	})
	return activeBLAS
}

// BLAS names the GEMM implementation in use: OpenBLAS's configuration string
// (for example "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64")
// when libopenblas.so.0 was loaded at run time, or "gonum" for the pure-Go
// fallback (builds without cgo, a missing library, or NEXTCONV_BLAS=gonum).
func BLAS() string { return currentBLAS().name }

// SGEMM computes the row-major float32 matrix product
//
//	C = alpha·op(A)·op(B) + beta·C,   op(A) [m, k], op(B) [k, n], C [m, n]
//
// where op(X) is X, or Xᵀ when the matching trans flag is set; A is stored
// [m, lda] (or [k, lda] when transposed), B [k, ldb] (or [n, ldb]), C [m, ldc].
// With beta == 0, C is overwritten and its old contents (NaNs included) are
// ignored, as in the reference BLAS. It runs OpenBLAS's cblas_sgemm with
// CblasRowMajor when available (see [BLAS]), else gonum's Sgemm; either uses
// all cores, so do not call it from several goroutines at once expecting a
// speed-up.
//
// Like a Go slice expression, SGEMM panics when a size is negative, a leading
// dimension is too small or a slice too short for the sizes given; the C
// library is never called with such arguments.
func SGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGEMM("SGEMM", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleRows(c, m, n, ldc, beta)
		return
	}
	currentBLAS().sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// DGEMM is [SGEMM] in float64 (cblas_dgemm or gonum's Dgemm).
func DGEMM(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGEMM("DGEMM", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleRows(c, m, n, ldc, beta)
		return
	}
	currentBLAS().dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm is [SGEMM] or [DGEMM] chosen by T, for the generic ops.
func gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch cc := any(c).(type) {
	case []float32:
		SGEMM(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
	case []float64:
		DGEMM(transA, transB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
	}
}

// checkGEMM panics unless the sizes, leading dimensions and slice lengths
// describe matrices that fit, the same rules as the reference BLAS plus
// slice bounds.
func checkGEMM(op string, transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu.%s: negative size m=%d n=%d k=%d", op, m, n, k))
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
	case lda < max(1, colsA):
		panic(fmt.Sprintf("cpu.%s: lda %d < %d", op, lda, colsA))
	case ldb < max(1, colsB):
		panic(fmt.Sprintf("cpu.%s: ldb %d < %d", op, ldb, colsB))
	case ldc < max(1, n):
		panic(fmt.Sprintf("cpu.%s: ldc %d < %d", op, ldc, n))
	}
	if m == 0 || n == 0 {
		return
	}
	need := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	switch {
	case lenA < need(rowsA, colsA, lda):
		panic(fmt.Sprintf("cpu.%s: A has %d elements, [%d, %d] with lda %d needs %d", op, lenA, rowsA, colsA, lda, need(rowsA, colsA, lda)))
	case lenB < need(rowsB, colsB, ldb):
		panic(fmt.Sprintf("cpu.%s: B has %d elements, [%d, %d] with ldb %d needs %d", op, lenB, rowsB, colsB, ldb, need(rowsB, colsB, ldb)))
	case lenC < need(m, n, ldc):
		panic(fmt.Sprintf("cpu.%s: C has %d elements, [%d, %d] with ldc %d needs %d", op, lenC, m, n, ldc, need(m, n, ldc)))
	}
}

// scaleRows sets C = beta·C for the k == 0 product (beta == 0 clears).
func scaleRows[T Float](c []T, m, n, ldc int, beta T) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// loadOpenBLAS dlopens libopenblas.so.0 with threads threads and returns it,
// or nil if the build has no cgo or the library is missing. The library's
// own threads do the parallel work, so its GEMMs must not be called from
// inside parallelFor.
//
// OpenBLAS's worker threads spin for 2^28 cycles after every call before
// they sleep (OPENBLAS_THREAD_TIMEOUT, default 28), taking a core from the
// Go loops that follow each GEMM; unless the user has set it, it is lowered
// to the minimum, 4, before the library is loaded and reads it. On this
// project's 2-core machine that shortened a ConvNeXt training step by about
// 15 %.
func loadOpenBLAS(threads int) *blasImpl {
	if _, set := os.LookupEnv("OPENBLAS_THREAD_TIMEOUT"); !set {
		os.Setenv("OPENBLAS_THREAD_TIMEOUT", "4")
	}
	cfg, ok := openblas.Load(openblas.Soname, threads)
	if !ok {
		return nil
	}
	return &blasImpl{name: cfg, sgemm: openblas.Sgemm, dgemm: openblas.Dgemm}
}

// gonumBLAS returns the pure-Go fallback over gonum's blas/gonum.
func gonumBLAS() *blasImpl {
	var impl gonum.Implementation
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	return &blasImpl{
		name: "gonum",
		sgemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			impl.Sgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
		dgemm: func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
			impl.Dgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
	}
}
