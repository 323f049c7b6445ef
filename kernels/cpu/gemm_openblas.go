//go:build cgo && unix

package cpu

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// CBLAS constants (cblas.h): CblasRowMajor, CblasNoTrans, CblasTrans.
enum { ncRowMajor = 101, ncNoTrans = 111, ncTrans = 112 };

typedef void (*nc_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                            const float *, int, float, float *, int);
typedef void (*nc_dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
                            const double *, int, double, double *, int);
typedef char *(*nc_config_fn)(void);
typedef void (*nc_threads_fn)(int);

static nc_sgemm_fn nc_sgemm_ptr;
static nc_dgemm_fn nc_dgemm_ptr;

// nc_load opens the library and resolves the symbols the backend needs. It
// returns the configuration string, or NULL (leaving the library closed) if
// a symbol is missing.
static const char *nc_load(const char *lib, int threads) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return NULL;
	}
	nc_sgemm_fn s = (nc_sgemm_fn)dlsym(h, "cblas_sgemm");
	nc_dgemm_fn d = (nc_dgemm_fn)dlsym(h, "cblas_dgemm");
	nc_config_fn cfg = (nc_config_fn)dlsym(h, "openblas_get_config");
	nc_threads_fn thr = (nc_threads_fn)dlsym(h, "openblas_set_num_threads");
	if (s == NULL || d == NULL || cfg == NULL) {
		dlclose(h);
		return NULL;
	}
	if (thr != NULL && threads > 0) {
		thr(threads);
	}
	nc_sgemm_ptr = s;
	nc_dgemm_ptr = d;
	return cfg();
}

static void nc_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
	nc_sgemm_ptr(ncRowMajor, ta ? ncTrans : ncNoTrans, tb ? ncTrans : ncNoTrans, m, n, k, alpha,
	             a, lda, b, ldb, beta, c, ldc);
}

static void nc_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                     const double *b, int ldb, double beta, double *c, int ldc) {
	nc_dgemm_ptr(ncRowMajor, ta ? ncTrans : ncNoTrans, tb ? ncTrans : ncNoTrans, m, n, k, alpha,
	             a, lda, b, ldb, beta, c, ldc);
}
*/
import "C"

import (
	"math"
	"unsafe"
)

// openBLASLib is the soname loaded at run time; Debian's libopenblas0
// packages (pthread, openmp, serial) all provide it.
const openBLASLib = "libopenblas.so.0"

// loadOpenBLAS dlopens libopenblas.so.0, sets its thread count and returns
// the implementation, or nil if the library or a symbol is missing. The
// library's own threads do the parallel work, so its GEMMs must not be
// called from inside parallelFor.
func loadOpenBLAS(threads int) *blasImpl {
	lib := C.CString(openBLASLib)
	defer C.free(unsafe.Pointer(lib))
	cfg := C.nc_load(lib, C.int(threads))
	if cfg == nil {
		return nil
	}
	return &blasImpl{name: C.GoString(cfg), sgemm: openBLASSgemm, dgemm: openBLASDgemm}
}

// cBool converts a transpose flag for the C shims.
func cBool(t bool) C.int {
	if t {
		return 1
	}
	return 0
}

// cInt converts a size the caller has bounds-checked; CBLAS takes 32-bit
// ints, so larger sizes panic rather than wrap.
func cInt(v int) C.int {
	if v > math.MaxInt32 {
		panic("cpu: GEMM dimension exceeds the 32-bit CBLAS interface")
	}
	return C.int(v)
}

func openBLASSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.nc_sgemm(cBool(transA), cBool(transB), cInt(m), cInt(n), cInt(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), cInt(lda), (*C.float)(unsafe.Pointer(&b[0])), cInt(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), cInt(ldc))
}

func openBLASDgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	C.nc_dgemm(cBool(transA), cBool(transB), cInt(m), cInt(n), cInt(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), cInt(lda), (*C.double)(unsafe.Pointer(&b[0])), cInt(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), cInt(ldc))
}
