//go:build cgo

package cublas

/*
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Prototypes from cublasLt.h (CUDA 11.0 to 13); handles and descriptors
// are opaque pointers, enums C ints.
typedef int (*lt_desc_create_t)(void** desc, int compute, int scale);
typedef int (*lt_destroy_t)(void* obj);
typedef int (*lt_set_attr_t)(void* obj, int attr, const void* buf, size_t size);
typedef int (*lt_layout_create_t)(void** layout, int type, uint64_t rows, uint64_t cols, int64_t ld);
typedef int (*lt_pref_create_t)(void** pref);
typedef struct {
	uint64_t algo[8]; // cublasLtMatmulAlgo_t
	size_t workspace;
	int state;
	float waves;
	int reserved[4];
} nc_heuristic;
typedef int (*lt_heuristic_t)(void* h, void* desc, void* a, void* b, void* c, void* d, void* pref,
	int requested, nc_heuristic* results, int* returned);
typedef int (*lt_matmul_t)(void* h, void* desc, const void* alpha, const void* a, void* adesc,
	const void* b, void* bdesc, const void* beta, const void* c, void* cdesc, void* d, void* ddesc,
	const void* algo, void* workspace, size_t workspace_size, void* stream);

typedef struct {
	void *desc_create, *desc_destroy, *desc_set, *layout_create, *layout_destroy;
	void *pref_create, *pref_destroy, *pref_set, *heuristic, *matmul;
} nc_lt_funcs;

// cublasLtMatmulDescAttributes_t, cublasLtMatmulPreferenceAttributes_t.
enum { DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8, DESC_BIAS_DATA_TYPE = 26,
	PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_A_BYTES = 5 };
enum { CUDA_R_32F = 0 };

// nc_lt_plan is the part of a product that depends only on its shape: the
// operation descriptor, four layouts and the heuristic's first algorithm.
typedef struct {
	void *desc, *a, *b, *c, *d;
	nc_heuristic best;
} nc_lt_plan;

typedef struct {
	int transa, transb;
	uint64_t m, n, k;
	int64_t lda, ldb, ldc, ldd;
	int ab, cd, compute, epilogue, bias_type;
	uint64_t max_workspace;
	uint32_t align[4]; // of A, B, C, D in bytes
} nc_lt_spec;

// nc_lt_plan_destroy releases what a plan holds (a NULL member is skipped)
// and returns the first failing status.
static int nc_lt_plan_destroy(const nc_lt_funcs* f, nc_lt_plan* p) {
	int st = 0, s;
	void* layouts[4] = {p->a, p->b, p->c, p->d};
	for (int i = 0; i < 4; i++)
		if (layouts[i] && (s = ((lt_destroy_t)f->layout_destroy)(layouts[i])) && !st) st = s;
	if (p->desc && (s = ((lt_destroy_t)f->desc_destroy)(p->desc)) && !st) st = s;
	memset(p, 0, sizeof *p);
	return st;
}

// nc_lt_plan_create fills p for s; on failure it names the failing call in
// *call, releases what it made and returns the status.
static int nc_lt_plan_create(const nc_lt_funcs* f, uintptr_t h, const nc_lt_spec* s, nc_lt_plan* p, const char** call) {
	memset(p, 0, sizeof *p);
	int st;
	void* pref = NULL;
	int32_t ta = s->transa, tb = s->transb;
	uint32_t epi = s->epilogue;
	int32_t bt = s->bias_type;
	uint64_t arows = s->transa ? s->k : s->m, acols = s->transa ? s->m : s->k;
	uint64_t brows = s->transb ? s->n : s->k, bcols = s->transb ? s->k : s->n;
	int returned = 0;
#define TRY(name, expr) do { *call = name; if ((st = (expr))) goto fail; } while (0)
	TRY("cublasLtMatmulDescCreate", ((lt_desc_create_t)f->desc_create)(&p->desc, s->compute, CUDA_R_32F));
	TRY("cublasLtMatmulDescSetAttribute(TRANSA)", ((lt_set_attr_t)f->desc_set)(p->desc, DESC_TRANSA, &ta, sizeof ta));
	TRY("cublasLtMatmulDescSetAttribute(TRANSB)", ((lt_set_attr_t)f->desc_set)(p->desc, DESC_TRANSB, &tb, sizeof tb));
	TRY("cublasLtMatmulDescSetAttribute(EPILOGUE)", ((lt_set_attr_t)f->desc_set)(p->desc, DESC_EPILOGUE, &epi, sizeof epi));
	if (epi != 1 && bt != s->cd)
		TRY("cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)", ((lt_set_attr_t)f->desc_set)(p->desc, DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
	TRY("cublasLtMatrixLayoutCreate(A)", ((lt_layout_create_t)f->layout_create)(&p->a, s->ab, arows, acols, s->lda));
	TRY("cublasLtMatrixLayoutCreate(B)", ((lt_layout_create_t)f->layout_create)(&p->b, s->ab, brows, bcols, s->ldb));
	TRY("cublasLtMatrixLayoutCreate(C)", ((lt_layout_create_t)f->layout_create)(&p->c, s->cd, s->m, s->n, s->ldc));
	TRY("cublasLtMatrixLayoutCreate(D)", ((lt_layout_create_t)f->layout_create)(&p->d, s->cd, s->m, s->n, s->ldd));
	TRY("cublasLtMatmulPreferenceCreate", ((lt_pref_create_t)f->pref_create)(&pref));
	TRY("cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)",
		((lt_set_attr_t)f->pref_set)(pref, PREF_MAX_WORKSPACE_BYTES, &s->max_workspace, sizeof s->max_workspace));
	for (int i = 0; i < 4; i++)
		TRY("cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_*_BYTES)",
			((lt_set_attr_t)f->pref_set)(pref, PREF_MIN_ALIGNMENT_A_BYTES + i, &s->align[i], sizeof s->align[i]));
	TRY("cublasLtMatmulAlgoGetHeuristic", ((lt_heuristic_t)f->heuristic)((void*)h, p->desc, p->a, p->b, p->c, p->d, pref, 1, &p->best, &returned));
	*call = "cublasLtMatmulAlgoGetHeuristic";
	st = returned < 1 ? 15 : p->best.state; // CUBLAS_STATUS_NOT_SUPPORTED: no algorithm
	if (st) goto fail;
	((lt_destroy_t)f->pref_destroy)(pref);
	return 0;
#undef TRY
fail:
	if (pref) ((lt_destroy_t)f->pref_destroy)(pref);
	nc_lt_plan_destroy(f, p);
	return st;
}

// nc_lt_matmul sets the bias pointer (when the epilogue has one) and queues
// the product; alpha and beta are host scalars read during the call.
static int nc_lt_matmul(const nc_lt_funcs* f, uintptr_t h, nc_lt_plan* p, int epilogue, float alpha, float beta,
		uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d, uintptr_t bias, uintptr_t ws, size_t ws_size,
		uintptr_t stream, const char** call) {
	int st;
	if (epilogue != 1) {
		void* bp = (void*)bias;
		*call = "cublasLtMatmulDescSetAttribute(BIAS_POINTER)";
		if ((st = ((lt_set_attr_t)f->desc_set)(p->desc, DESC_BIAS_POINTER, &bp, sizeof bp))) return st;
	}
	*call = "cublasLtMatmul";
	return ((lt_matmul_t)f->matmul)((void*)h, p->desc, &alpha, (const void*)a, p->a, (const void*)b, p->b, &beta,
		(const void*)c, p->c, (void*)d, p->d, p->best.algo, (void*)ws, ws_size, (void*)stream);
}
*/
import "C"

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda/internal/dynlib"
)

// ltFuncs are the resolved cuBLASLt entry points beyond the handle's.
type ltFuncs = C.nc_lt_funcs

// ltMatmulSymbols are the cuBLASLt functions LtPlan and LtMatmul call.
func (f *funcs) ltMatmulSymbols() []dynlib.Symbol {
	lt := &f.lt
	return []dynlib.Symbol{
		{Name: "cublasLtMatmulDescCreate", Addr: &lt.desc_create},
		{Name: "cublasLtMatmulDescDestroy", Addr: &lt.desc_destroy},
		{Name: "cublasLtMatmulDescSetAttribute", Addr: &lt.desc_set},
		{Name: "cublasLtMatrixLayoutCreate", Addr: &lt.layout_create},
		{Name: "cublasLtMatrixLayoutDestroy", Addr: &lt.layout_destroy},
		{Name: "cublasLtMatmulPreferenceCreate", Addr: &lt.pref_create},
		{Name: "cublasLtMatmulPreferenceDestroy", Addr: &lt.pref_destroy},
		{Name: "cublasLtMatmulPreferenceSetAttribute", Addr: &lt.pref_set},
		{Name: "cublasLtMatmulAlgoGetHeuristic", Addr: &lt.heuristic},
		{Name: "cublasLtMatmul", Addr: &lt.matmul},
	}
}

// cudaDataType_t, cublasComputeType_t and cublasLtEpilogue_t values
// (library_types.h, cublas_api.h, cublasLt.h; the same in CUDA 11 to 13).
const (
	R32F              = 0   // CUDA_R_32F
	R16BF             = 14  // CUDA_R_16BF
	Compute32F        = 68  // CUBLAS_COMPUTE_32F
	Compute32FFastTF  = 77  // CUBLAS_COMPUTE_32F_FAST_TF32
	EpilogueDefault   = 1   // CUBLASLT_EPILOGUE_DEFAULT
	EpilogueBias      = 4   // CUBLASLT_EPILOGUE_BIAS
	EpilogueBGradB    = 512 // CUBLASLT_EPILOGUE_BGRADB
	maxLtWorkspaceCap = 1 << 30
)

// LtSpec is the shape of a cuBLASLt product: column-major D[M×N] =
// op(A)[M×K]·op(B)[K×N] (+ C), A and B of type AB, C and D of type CD
// (cudaDataType_t values: R32F, R16BF), accumulated with Compute
// (Compute32F, Compute32FFastTF), with Epilogue (EpilogueDefault,
// EpilogueBias, EpilogueBGradB) whose vector has type BiasType, and an
// algorithm that needs at most MaxWorkspace bytes of workspace and works
// with A, B, C and D aligned to Align bytes (powers of two up to 256,
// cuBLASLt's default assumption; a smaller value excludes the algorithms
// that need more).
type LtMatmulSpec struct {
	TransA, TransB     bool
	M, N, K            int
	LDA, LDB, LDC, LDD int
	AB, CD, BiasType   int
	Compute, Epilogue  int
	MaxWorkspace       int
	Align              [4]int
}

// LtPlan is an LtMatmulSpec made ready to run: its operation descriptor,
// matrix layouts and the algorithm cublasLtMatmulAlgoGetHeuristic ranked
// first. Create it once per shape (LtPlan) and reuse it; Destroy it with
// LtPlanDestroy.
type LtPlan struct {
	p        C.nc_lt_plan
	epilogue int
}

// Workspace returns the bytes of workspace the plan's algorithm needs (at
// most the spec's MaxWorkspace).
func (p *LtPlan) Workspace() int { return int(p.p.best.workspace) }

// LtPlan creates the descriptors for s on h and asks the heuristic for the
// best algorithm. It returns an error naming the failing call and its
// status (CUBLAS_STATUS_NOT_SUPPORTED when no algorithm fits).
func (l *Library) LtPlan(h LtHandle, s LtMatmulSpec) (*LtPlan, error) {
	if s.MaxWorkspace < 0 || s.MaxWorkspace > maxLtWorkspaceCap {
		return nil, fmt.Errorf("cuBLASLt workspace of %d bytes out of range", s.MaxWorkspace)
	}
	spec := C.nc_lt_spec{transa: C.int(op(s.TransA)), transb: C.int(op(s.TransB)),
		m: C.uint64_t(s.M), n: C.uint64_t(s.N), k: C.uint64_t(s.K),
		lda: C.int64_t(s.LDA), ldb: C.int64_t(s.LDB), ldc: C.int64_t(s.LDC), ldd: C.int64_t(s.LDD),
		ab: C.int(s.AB), cd: C.int(s.CD), compute: C.int(s.Compute), epilogue: C.int(s.Epilogue),
		bias_type: C.int(s.BiasType), max_workspace: C.uint64_t(s.MaxWorkspace)}
	for i, a := range s.Align {
		if a < 1 || a > 256 || a&(a-1) != 0 {
			return nil, fmt.Errorf("cuBLASLt alignment %v: want powers of two up to 256", s.Align)
		}
		spec.align[i] = C.uint32_t(a)
	}
	p := &LtPlan{epilogue: s.Epilogue}
	var call *C.char
	if st := C.nc_lt_plan_create(&l.fn.lt, C.uintptr_t(h), &spec, &p.p, &call); st != 0 {
		return nil, check(C.GoString(call), st)
	}
	return p, nil
}

// LtPlanDestroy releases the descriptors of p.
func (l *Library) LtPlanDestroy(p *LtPlan) error {
	return check("cublasLtMatrixLayoutDestroy/cublasLtMatmulDescDestroy", C.nc_lt_plan_destroy(&l.fn.lt, &p.p))
}

// LtMatmul queues D = alpha·op(A)·op(B) + beta·C and p's epilogue on
// stream (a CUstream) with h (cublasLtMatmul), bias being the epilogue's
// vector and workspace a device buffer of wsBytes ≥ p.Workspace() bytes.
// a, b, c, d, bias and workspace are device addresses.
func (l *Library) LtMatmul(h LtHandle, p *LtPlan, alpha, beta float32, a, b, c, d, bias, workspace uintptr, wsBytes int, stream uintptr) error {
	var call *C.char
	st := C.nc_lt_matmul(&l.fn.lt, C.uintptr_t(h), &p.p, C.int(p.epilogue), C.float(alpha), C.float(beta),
		C.uintptr_t(a), C.uintptr_t(b), C.uintptr_t(c), C.uintptr_t(d), C.uintptr_t(bias), C.uintptr_t(workspace),
		C.size_t(wsBytes), C.uintptr_t(stream), &call)
	if st != 0 {
		return check(C.GoString(call), st)
	}
	return nil
}
