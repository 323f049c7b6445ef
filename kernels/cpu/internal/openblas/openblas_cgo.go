//go:build cgo && unix

package openblas

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

// Available reports whether this build can call OpenBLAS (it uses cgo).
const Available = true

// Load dlopens lib (normally [Soname]), resolves cblas_sgemm, cblas_dgemm
// and openblas_get_config, sets the library's thread count when threads >
// 0, and returns its configuration string. ok is false, and nothing is
// loaded, if the library or a symbol is missing. Load is not safe for
// concurrent use; call it once.
func Load(lib string, threads int) (config string, ok bool) {
	cs := C.CString(lib)
	defer C.free(unsafe.Pointer(cs))
	cfg := C.nc_load(cs, C.int(threads))
	if cfg == nil {
		return "", false
	}
	return C.GoString(cfg), true
}

// cBool converts a transpose flag for the C shims.
func cBool(t bool) C.int {
	if t {
		return 1
	}
	return 0
}

// cInt converts a size; CBLAS takes 32-bit ints, so larger sizes panic
// rather than wrap.
func cInt(v int) C.int {
	if v > math.MaxInt32 {
		panic("openblas: GEMM dimension exceeds the 32-bit CBLAS interface")
	}
	return C.int(v)
}

// Sgemm calls cblas_sgemm(CblasRowMajor, ...) on a library loaded by
// [Load]. The caller has checked the sizes against the slices: m, n, k > 0
// and every matrix fits its slice.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.nc_sgemm(cBool(transA), cBool(transB), cInt(m), cInt(n), cInt(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), cInt(lda), (*C.float)(unsafe.Pointer(&b[0])), cInt(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), cInt(ldc))
}

// Dgemm is [Sgemm] in float64 (cblas_dgemm).
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	C.nc_dgemm(cBool(transA), cBool(transB), cInt(m), cInt(n), cInt(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), cInt(lda), (*C.double)(unsafe.Pointer(&b[0])), cInt(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), cInt(ldc))
}
