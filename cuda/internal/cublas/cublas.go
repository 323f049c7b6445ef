//go:build cgo

// Package cublas calls cuBLAS and cuBLASLt through function pointers
// resolved at run time (package dynlib), so that a binary links neither and
// runs with the libraries of CUDA 13, 12 or 11, whichever the machine has.
//
// The C prototypes below are written out from NVIDIA's cublas_api.h and
// cublasLt.h (their ABI is the same in CUDA 11.0 to 13): handles are opaque
// pointers, enums are C ints, statuses are cublasStatus_t values. So building
// needs no cuBLAS header either.
//
// To call another function: add its pointer to funcs with a row in
// symbols, a C trampoline with its prototype, and a Go method.
package cublas

/*
#include <stddef.h>
#include <stdint.h>

typedef int (*create_t)(void** handle);
typedef int (*destroy_t)(void* handle);
typedef int (*set_stream_t)(void* handle, void* stream);
typedef int (*set_math_mode_t)(void* handle, int mode);
typedef int (*get_version_t)(void* handle, int* version);
typedef int (*sgemm_t)(void* handle, int transa, int transb, int m, int n, int k,
	const float* alpha, const float* a, int lda, const float* b, int ldb,
	const float* beta, float* c, int ldc);
typedef size_t (*lt_get_version_t)(void);

static int nc_create(void* f, uintptr_t* h) {
	void* p = NULL;
	int st = ((create_t)f)(&p);
	*h = (uintptr_t)p;
	return st;
}
static int nc_destroy(void* f, uintptr_t h) { return ((destroy_t)f)((void*)h); }
static int nc_set_stream(void* f, uintptr_t h, uintptr_t stream) {
	return ((set_stream_t)f)((void*)h, (void*)stream);
}
static int nc_set_math_mode(void* f, uintptr_t h, int mode) {
	return ((set_math_mode_t)f)((void*)h, mode);
}
static int nc_get_version(void* f, uintptr_t h, int* v) { return ((get_version_t)f)((void*)h, v); }
// alpha and beta are host scalars (CUBLAS_POINTER_MODE_HOST, the default),
// read during the call.
static int nc_sgemm(void* f, uintptr_t h, int ta, int tb, int m, int n, int k,
		float alpha, uintptr_t a, int lda, uintptr_t b, int ldb, float beta, uintptr_t c, int ldc) {
	return ((sgemm_t)f)((void*)h, ta, tb, m, n, k, &alpha, (const float*)a, lda,
		(const float*)b, ldb, &beta, (float*)c, ldc);
}
static size_t nc_lt_get_version(void* f) { return ((lt_get_version_t)f)(); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/nextconv/nextconv/cuda/internal/dynlib"
)

// BLASSpec is where Load looks for cuBLAS: the path in NEXTCONV_CUBLAS when
// set, else the sonames of CUDA 13, 12 and 11, newest first.
var BLASSpec = dynlib.Spec{
	Name:       "cuBLAS",
	Env:        "NEXTCONV_CUBLAS",
	Candidates: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"},
}

// LtSpec is where Load looks for cuBLASLt: NEXTCONV_CUBLASLT, else the
// sonames of CUDA 13, 12 and 11 (Load tries the one of cuBLAS's release
// first: see load).
var LtSpec = dynlib.Spec{
	Name:       "cuBLASLt",
	Env:        "NEXTCONV_CUBLASLT",
	Candidates: []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"},
}

// funcs are the resolved entry points.
type funcs struct {
	create, destroy, setStream, setMathMode, getVersion, sgemm unsafe.Pointer
	ltCreate, ltDestroy, ltGetVersion                          unsafe.Pointer
	lt                                                         ltFuncs // cublasLtMatmul and its descriptors (lt.go)
}

func (f *funcs) blasSymbols() []dynlib.Symbol {
	return []dynlib.Symbol{
		{Name: "cublasCreate_v2", Addr: &f.create},
		{Name: "cublasDestroy_v2", Addr: &f.destroy},
		{Name: "cublasSetStream_v2", Addr: &f.setStream},
		{Name: "cublasSetMathMode", Addr: &f.setMathMode},
		{Name: "cublasGetVersion_v2", Addr: &f.getVersion},
		{Name: "cublasSgemm_v2", Addr: &f.sgemm},
	}
}

func (f *funcs) ltSymbols() []dynlib.Symbol {
	return append([]dynlib.Symbol{
		// cublasLtCreate and cublasLtDestroy have the prototypes of
		// cublasCreate_v2 and cublasDestroy_v2.
		{Name: "cublasLtCreate", Addr: &f.ltCreate},
		{Name: "cublasLtDestroy", Addr: &f.ltDestroy},
		{Name: "cublasLtGetVersion", Addr: &f.ltGetVersion},
	}, f.ltMatmulSymbols()...)
}

// Library is cuBLAS and cuBLASLt, loaded. Its methods may be called from
// any thread; a Handle is bound to the CUDA context current when it was
// created (cuBLAS's rule).
type Library struct {
	// BLAS and Lt are the loaded libraries; their Path says which.
	BLAS, Lt *dynlib.Library
	fn       funcs
}

var (
	loadOnce sync.Once
	loaded   *Library
	loadErr  error
)

// Load loads cuBLAS and cuBLASLt (see BLASSpec and LtSpec) once per
// process and returns them, or an error listing every path tried with the
// dynamic linker's reason, or naming the functions a library lacks. The
// libraries stay loaded.
func Load() (*Library, error) {
	loadOnce.Do(func() { loaded, loadErr = load(BLASSpec, LtSpec) })
	return loaded, loadErr
}

// load opens both libraries of blas and lt and resolves their functions.
//
// Without overrides cuBLAS is opened first and cuBLASLt is tried first at
// the soname suffix of the cuBLAS found, so that the two come from one CUDA
// release. With an override cuBLASLt is opened first, from its override or
// else from beside the cuBLAS override (libcublasLt.so.N next to
// libcublas.so.N): libcublas.so.N needs libcublasLt.so.N, and a directory
// outside the dynamic linker's search path is found only because the
// linker then matches the soname of the library already loaded.
func load(blas, lt dynlib.Spec) (*Library, error) {
	l := &Library{}
	blasOver, ltOver := os.Getenv(blas.Env), os.Getenv(lt.Env)
	if blasOver == "" && ltOver == "" {
		if err := l.openBLAS(blas); err != nil {
			return nil, err
		}
		lt.Candidates = sameReleaseFirst(lt.Candidates, blas.Candidates, l.BLAS.Path)
		if err := l.openLt(lt); err != nil {
			return nil, errors.Join(err, l.BLAS.Close())
		}
		return l, nil
	}
	if ltOver == "" {
		if beside, ok := besideBLAS(blasOver); ok {
			lt.Candidates = append([]string{beside}, lt.Candidates...)
		}
	}
	if err := l.openLt(lt); err != nil {
		return nil, err
	}
	if err := l.openBLAS(blas); err != nil {
		return nil, errors.Join(err, l.Lt.Close())
	}
	return l, nil
}

// openBLAS opens cuBLAS from spec and resolves its functions.
func (l *Library) openBLAS(spec dynlib.Spec) error {
	lib, err := dynlib.Open(spec)
	if err != nil {
		return err
	}
	if err := lib.Resolve(l.fn.blasSymbols()); err != nil {
		return errors.Join(err, lib.Close())
	}
	l.BLAS = lib
	return nil
}

// openLt opens cuBLASLt from spec and resolves its functions.
func (l *Library) openLt(spec dynlib.Spec) error {
	lib, err := dynlib.Open(spec)
	if err != nil {
		return err
	}
	if err := lib.Resolve(l.fn.ltSymbols()); err != nil {
		return errors.Join(err, lib.Close())
	}
	l.Lt = lib
	return nil
}

// besideBLAS returns the path of libcublasLt.so.N in the directory of the
// cuBLAS at path, when path names a libcublas.so.N file.
func besideBLAS(path string) (string, bool) {
	dir, file := filepath.Split(path)
	if !strings.HasPrefix(file, "libcublas.so") {
		return "", false
	}
	return filepath.Join(dir, "libcublasLt"+strings.TrimPrefix(file, "libcublas")), true
}

// sameReleaseFirst moves the candidate at the index of loaded in
// loadedFrom to the front of cands.
func sameReleaseFirst(cands, loadedFrom []string, loaded string) []string {
	for i, c := range loadedFrom {
		if c == loaded && i < len(cands) {
			out := append([]string{cands[i]}, cands[:i]...)
			return append(out, cands[i+1:]...)
		}
	}
	return cands
}

// Close unloads both libraries. Tests use it; Load's libraries stay.
func (l *Library) Close() error { return errors.Join(l.Lt.Close(), l.BLAS.Close()) }

// LtVersion returns cublasLtGetVersion(): CUBLAS_VERSION of the loaded
// cuBLASLt, major·10000 + minor·100 + patch (120205 for 12.2.5).
func (l *Library) LtVersion() int { return int(C.nc_lt_get_version(l.fn.ltGetVersion)) }

// Handle is a cublasHandle_t.
type Handle uintptr

// Create returns a new cuBLAS handle on the current CUDA context
// (cublasCreate_v2; it allocates its workspace there).
func (l *Library) Create() (Handle, error) {
	var h C.uintptr_t
	if err := check("cublasCreate_v2", C.nc_create(l.fn.create, &h)); err != nil {
		return 0, err
	}
	return Handle(h), nil
}

// Destroy releases h (cublasDestroy_v2).
func (l *Library) Destroy(h Handle) error {
	return check("cublasDestroy_v2", C.nc_destroy(l.fn.destroy, C.uintptr_t(h)))
}

// Version returns cublasGetVersion_v2: CUBLAS_VERSION of the loaded
// cuBLAS, major·10000 + minor·100 + patch (111103 for 11.11.3). cuBLAS
// does not use the handle for it, so h may be 0.
func (l *Library) Version(h Handle) (int, error) {
	var v C.int
	if err := check("cublasGetVersion_v2", C.nc_get_version(l.fn.getVersion, C.uintptr_t(h), &v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// SetStream makes h queue its work on stream (a CUstream; cublasSetStream_v2).
func (l *Library) SetStream(h Handle, stream uintptr) error {
	return check("cublasSetStream_v2", C.nc_set_stream(l.fn.setStream, C.uintptr_t(h), C.uintptr_t(stream)))
}

// cublasMath_t values (cublas_api.h, CUDA 11+).
const (
	defaultMath      = 0 // CUBLAS_DEFAULT_MATH
	tf32TensorOpMath = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// SetMathMode sets h's math mode (cublasSetMathMode): with tf32,
// CUBLAS_TF32_TENSOR_OP_MATH (float32 GEMMs on TF32 tensor cores), else
// CUBLAS_DEFAULT_MATH.
func (l *Library) SetMathMode(h Handle, tf32 bool) error {
	mode := C.int(defaultMath)
	if tf32 {
		mode = tf32TensorOpMath
	}
	return check("cublasSetMathMode", C.nc_set_math_mode(l.fn.setMathMode, C.uintptr_t(h), mode))
}

// Sgemm queues C = alpha·op(A)·op(B) + beta·C on h's stream
// (cublasSgemm_v2): column-major, op(A) m×k, op(B) k×n, C m×n, a, b, c
// device addresses with leading dimensions lda, ldb, ldc. Callers check
// the sizes; a status other than CUBLAS_STATUS_SUCCESS is returned as a
// Status.
func (l *Library) Sgemm(h Handle, transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error {
	return check("cublasSgemm_v2", C.nc_sgemm(l.fn.sgemm, C.uintptr_t(h), op(transA), op(transB),
		C.int(m), C.int(n), C.int(k), C.float(alpha), C.uintptr_t(a), C.int(lda),
		C.uintptr_t(b), C.int(ldb), C.float(beta), C.uintptr_t(c), C.int(ldc)))
}

// op returns the cublasOperation_t: CUBLAS_OP_N (0) or CUBLAS_OP_T (1).
func op(trans bool) C.int {
	if trans {
		return 1
	}
	return 0
}

// LtHandle is a cublasLtHandle_t.
type LtHandle uintptr

// LtCreate returns a new cuBLASLt handle (cublasLtCreate).
func (l *Library) LtCreate() (LtHandle, error) {
	var h C.uintptr_t
	if err := check("cublasLtCreate", C.nc_create(l.fn.ltCreate, &h)); err != nil {
		return 0, err
	}
	return LtHandle(h), nil
}

// LtDestroy releases h (cublasLtDestroy).
func (l *Library) LtDestroy(h LtHandle) error {
	return check("cublasLtDestroy", C.nc_destroy(l.fn.ltDestroy, C.uintptr_t(h)))
}

// Status is a cublasStatus_t other than CUBLAS_STATUS_SUCCESS.
type Status int

// Error returns the status's name in cublas_api.h and its number.
func (s Status) Error() string {
	names := map[Status]string{
		1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
		7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH",
		11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
		14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
		16: "CUBLAS_STATUS_LICENSE_ERROR",
	}
	if n, ok := names[s]; ok {
		return fmt.Sprintf("%s (%d)", n, int(s))
	}
	return fmt.Sprintf("cublasStatus_t %d", int(s))
}

// check turns a status into nil or an error naming the call.
func check(call string, st C.int) error {
	if st == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", call, Status(st))
}
