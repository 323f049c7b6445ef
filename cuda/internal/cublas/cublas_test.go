//go:build cgo

package cublas

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/nextconv/nextconv/cuda/internal/dynlib"
	"github.com/nextconv/nextconv/cuda/internal/dynlib/fakelib"
)

// fakeBLAS stands in for libcublas.so.N: every function Library resolves,
// with a host-memory column-major SGEMM, so that the trampolines' argument
// order is checked against a reference. VERSION is N·10000; the last
// handle, stream and math mode set are kept in variables the test reads.
const fakeBLAS = `
#include <stdint.h>
#include <stdlib.h>
static int handles;
int fake_math_mode = -1;
uintptr_t fake_stream, fake_handle;
int cublasCreate_v2(void** h) { *h = (void*)(uintptr_t)(0x1000 + ++handles); fake_handle = (uintptr_t)*h; return 0; }
int cublasDestroy_v2(void* h) { return h == (void*)fake_handle ? 0 : 7; }
int cublasSetStream_v2(void* h, void* s) { fake_stream = (uintptr_t)s; return h ? 0 : 1; }
int cublasSetMathMode(void* h, int mode) { fake_math_mode = mode; return mode == 0 || mode == 3 ? 0 : 7; }
int cublasGetVersion_v2(void* h, int* v) { *v = VERSION; return 0; }
#ifndef NO_SGEMM
int cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha,
		const float* a, int lda, const float* b, int ldb, const float* beta, float* c, int ldc) {
	if (m < 0 || n < 0 || k < 0) return 7;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int p = 0; p < k; p++)
				s += (ta ? a[p + i * lda] : a[i + p * lda]) * (tb ? b[j + p * ldb] : b[p + j * ldb]);
			c[i + j * ldc] = *alpha * s + *beta * c[i + j * ldc];
		}
	return 0;
}
#endif
`

// fakeLt stands in for libcublasLt.so.N: handles, and a host-memory
// cublasLtMatmul (float32 or bfloat16 matrices, the BIAS and BGRADB
// epilogues) over descriptors that keep their attributes, so that the
// descriptor set-up and the call's argument order are checked against a
// reference. fake_live counts descriptors not yet destroyed;
// fake_workspace and fake_align are the last preference's workspace limit
// and alignments of A, B, C and D.
const fakeLt = `
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int fake_live;
uint64_t fake_workspace;
int cublasLtCreate(void** h) { *h = (void*)0x2000; return 0; }
int cublasLtDestroy(void* h) { return h == (void*)0x2000 ? 0 : 7; }
size_t cublasLtGetVersion(void) { return VERSION; }
typedef struct { int compute, scale, ta, tb; uint32_t epi; int bias_type; void* bias; } desc;
typedef struct { int type; uint64_t rows, cols; int64_t ld; } layout;
int cublasLtMatmulDescCreate(desc** d, int compute, int scale) {
	if (compute != 68 && compute != 77) return 7;
	*d = calloc(1, sizeof **d); (*d)->compute = compute; (*d)->scale = scale; (*d)->epi = 1; (*d)->bias_type = -1;
	fake_live++; return 0;
}
int cublasLtMatmulDescDestroy(desc* d) { free(d); fake_live--; return 0; }
int cublasLtMatmulDescSetAttribute(desc* d, int attr, const void* buf, size_t size) {
	switch (attr) {
	case 3: if (size != 4) return 7; d->ta = *(const int*)buf; return 0;
	case 4: if (size != 4) return 7; d->tb = *(const int*)buf; return 0;
	case 7: if (size != 4) return 7; d->epi = *(const uint32_t*)buf; return 0;
	case 8: if (size != sizeof(void*)) return 7; d->bias = *(void* const*)buf; return 0;
	case 26: if (size != 4) return 7; d->bias_type = *(const int*)buf; return 0;
	}
	return 7;
}
int cublasLtMatrixLayoutCreate(layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
	if (type != 0 && type != 14) return 7;
	if (ld < (int64_t)rows) return 7;
	*l = malloc(sizeof **l); (*l)->type = type; (*l)->rows = rows; (*l)->cols = cols; (*l)->ld = ld;
	fake_live++; return 0;
}
int cublasLtMatrixLayoutDestroy(layout* l) { free(l); fake_live--; return 0; }
int cublasLtMatmulPreferenceCreate(void** p) { *p = malloc(8); fake_live++; return 0; }
int cublasLtMatmulPreferenceDestroy(void* p) { free(p); fake_live--; return 0; }
uint32_t fake_align[4];
int cublasLtMatmulPreferenceSetAttribute(void* p, int attr, const void* buf, size_t size) {
	if (attr == 1 && size == 8) { fake_workspace = *(const uint64_t*)buf; return 0; }
	if (attr >= 5 && attr <= 8 && size == 4) { fake_align[attr - 5] = *(const uint32_t*)buf; return 0; }
	return 7;
}
typedef struct { uint64_t algo[8]; size_t workspace; int state; float waves; int reserved[4]; } result;
int cublasLtMatmulAlgoGetHeuristic(void* h, desc* d, layout* a, layout* b, layout* c, layout* dd, void* pref,
		int requested, result* r, int* returned) {
	if (h != (void*)0x2000 || requested < 1) return 7;
	if (d->epi == 512 && fake_workspace < 4096) { *returned = 0; return 0; }
	memset(r, 0, sizeof *r); r->algo[0] = 42; r->workspace = d->epi == 512 ? 4096 : 0;
	*returned = 1; return 0;
}
static float get(const layout* l, const void* p, uint64_t i, uint64_t j) {
	uint64_t at = i + j * l->ld;
	if (l->type == 0) return ((const float*)p)[at];
	uint32_t u = (uint32_t)((const uint16_t*)p)[at] << 16; float f; memcpy(&f, &u, 4); return f;
}
static void put(int type, void* p, uint64_t at, float v) {
	if (type == 0) { ((float*)p)[at] = v; return; }
	uint32_t u; memcpy(&u, &v, 4); u += 0x7fff + ((u >> 16) & 1); ((uint16_t*)p)[at] = u >> 16;
}
int cublasLtMatmul(void* h, desc* d, const float* alpha, const void* A, layout* a, const void* B, layout* b,
		const float* beta, const void* C, layout* c, void* D, layout* dl, const result* algo,
		void* ws, size_t wsSize, void* stream) {
	if (h != (void*)0x2000 || algo->algo[0] != 42 || wsSize < algo->workspace || (algo->workspace && !ws)) return 7;
	if (stream != (void*)0xabc0) return 7;
	uint64_t m = dl->rows, n = dl->cols, k = d->ta ? a->rows : a->cols;
	int btype = d->bias_type < 0 ? dl->type : d->bias_type;
	for (uint64_t j = 0; j < n; j++) {
		float bsum = 0;
		for (uint64_t p = 0; p < k; p++) bsum += d->tb ? get(b, B, j, p) : get(b, B, p, j);
		if (d->epi == 512) put(btype, d->bias, j, bsum);
		for (uint64_t i = 0; i < m; i++) {
			float s = 0;
			for (uint64_t p = 0; p < k; p++)
				s += (d->ta ? get(a, A, p, i) : get(a, A, i, p)) * (d->tb ? get(b, B, j, p) : get(b, B, p, j));
			float v = *alpha * s + (*beta != 0 ? *beta * get(c, C, i, j) : 0);
			if (d->epi == 4) { layout bl = {btype, m, 1, m}; v += get(&bl, d->bias, i, 0); }
			put(dl->type, D, i + j * dl->ld, v);
		}
	}
	return 0;
}
`

// fakeSpecs builds fake cuBLAS and cuBLASLt libraries of the given major
// versions in a new directory and returns specs whose candidates are their
// paths for majors 13, 12 and 11, in that order.
func fakeSpecs(t *testing.T, majors ...int) (blas, lt dynlib.Spec) {
	dir := t.TempDir()
	for _, v := range majors {
		fakelib.Build(t, dir, "libcublas.so."+strconv.Itoa(v), fakeBLAS, "-DVERSION="+strconv.Itoa(v*10000))
		fakelib.Build(t, dir, "libcublasLt.so."+strconv.Itoa(v), fakeLt, "-DVERSION="+strconv.Itoa(v*10000+1))
	}
	blas, lt = BLASSpec, LtSpec
	blas.Candidates, lt.Candidates = nil, nil
	for _, v := range []string{"13", "12", "11"} {
		blas.Candidates = append(blas.Candidates, filepath.Join(dir, "libcublas.so."+v))
		lt.Candidates = append(lt.Candidates, filepath.Join(dir, "libcublasLt.so."+v))
	}
	return blas, lt
}

// mustLoad returns a function that loads from the specs and fails t on an
// error (a curried form, so that fakeSpecs's results can be passed whole).
func mustLoad(t *testing.T) func(blas, lt dynlib.Spec) *Library {
	return func(blas, lt dynlib.Spec) *Library {
		t.Helper()
		l, err := load(blas, lt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
}

func versions(t *testing.T, l *Library) (int, int) {
	t.Helper()
	v, err := l.Version(0)
	if err != nil {
		t.Fatal(err)
	}
	return v, l.LtVersion()
}

// TestLoadNewest: with CUDA 12 and 11 libraries present the loader skips
// the missing 13 and takes 12, for both libraries.
func TestLoadNewest(t *testing.T) {
	t.Setenv("NEXTCONV_CUBLAS", "")
	t.Setenv("NEXTCONV_CUBLASLT", "")
	l := mustLoad(t)(fakeSpecs(t, 12, 11))
	if v, lv := versions(t, l); v != 120000 || lv != 120001 {
		t.Errorf("loaded %s (%d) and %s (%d), want version 12 of both", l.BLAS.Path, v, l.Lt.Path, lv)
	}
}

// TestLoadOverride: NEXTCONV_CUBLAS picks an older cuBLAS, and cuBLASLt
// then follows it to the same release; NEXTCONV_CUBLASLT overrides that.
func TestLoadOverride(t *testing.T) {
	blas, lt := fakeSpecs(t, 13, 12, 11)
	t.Setenv("NEXTCONV_CUBLAS", blas.Candidates[2])
	t.Setenv("NEXTCONV_CUBLASLT", "")
	l := mustLoad(t)(blas, lt)
	if v, lv := versions(t, l); v != 110000 || lv != 110001 {
		t.Errorf("with NEXTCONV_CUBLAS=%s: loaded versions %d and %d, want 11", blas.Candidates[2], v, lv)
	}
	t.Setenv("NEXTCONV_CUBLASLT", lt.Candidates[1])
	l = mustLoad(t)(blas, lt)
	if v, lv := versions(t, l); v != 110000 || lv != 120001 {
		t.Errorf("with NEXTCONV_CUBLASLT=%s: loaded versions %d and %d, want 11 and 12", lt.Candidates[1], v, lv)
	}
}

// TestLoadOverrideDependency: a real libcublas.so.N needs libcublasLt.so.N
// (DT_NEEDED). With NEXTCONV_CUBLAS naming one in a directory outside the
// linker's search path, dlopen alone fails to find that dependency; the
// loader opens the cuBLASLt beside it first, which the linker then matches
// by soname.
func TestLoadOverrideDependency(t *testing.T) {
	dir := t.TempDir()
	fakelib.Build(t, dir, "libcublasLt.so.12", fakeLt, "-DVERSION=120001", "-Wl,-soname,libcublasLt.so.12")
	blasPath := fakelib.Build(t, dir, "libcublas.so.12", fakeBLAS, "-DVERSION=120000",
		"-Wl,-soname,libcublas.so.12", "-L"+dir, "-Wl,--no-as-needed", "-l:libcublasLt.so.12")
	if _, err := dynlib.Open(dynlib.Spec{Name: "cuBLAS", Candidates: []string{blasPath}}); err == nil ||
		!strings.Contains(err.Error(), "libcublasLt.so.12") {
		t.Fatalf("dlopen of the fake cuBLAS alone gave %v; want it to miss libcublasLt.so.12 (is %s in the search path?)", err, dir)
	}
	t.Setenv("NEXTCONV_CUBLAS", blasPath)
	t.Setenv("NEXTCONV_CUBLASLT", "")
	l := mustLoad(t)(BLASSpec, LtSpec)
	if v, lv := versions(t, l); v != 120000 || lv != 120001 || l.Lt.Path != filepath.Join(dir, "libcublasLt.so.12") {
		t.Errorf("loaded %s (%d) and %s (%d)", l.BLAS.Path, v, l.Lt.Path, lv)
	}
}

// TestLoadMissing: without any cuBLAS the error lists every path tried and
// the variable that overrides them; with cuBLAS but no cuBLASLt it names
// cuBLASLt; a library without one of the functions is named with it.
func TestLoadMissing(t *testing.T) {
	t.Setenv("NEXTCONV_CUBLAS", "")
	t.Setenv("NEXTCONV_CUBLASLT", "")
	blas, lt := fakeSpecs(t)
	_, err := load(blas, lt)
	var le *dynlib.LoadError
	if !errors.As(err, &le) || le.Spec.Name != "cuBLAS" || len(le.Tried) != 3 {
		t.Fatalf("load = %v; want a LoadError for cuBLAS with 3 attempts", err)
	}
	for _, c := range blas.Candidates {
		if !strings.Contains(err.Error(), c+": ") {
			t.Errorf("error does not list %s:\n%v", c, err)
		}
	}
	if !strings.Contains(err.Error(), "NEXTCONV_CUBLAS") {
		t.Errorf("error does not name NEXTCONV_CUBLAS:\n%v", err)
	}

	blas12, _ := fakeSpecs(t, 12)
	_, err = load(blas12, lt)
	if !errors.As(err, &le) || le.Spec.Name != "cuBLASLt" || le.Tried[0].Path != lt.Candidates[1] {
		t.Errorf("load without cuBLASLt = %v; want a LoadError for cuBLASLt trying version 12 first", err)
	}

	dir := t.TempDir()
	broken := fakelib.Build(t, dir, "libcublas.so.13", fakeBLAS, "-DVERSION=130000", "-DNO_SGEMM")
	fakelib.Build(t, dir, "libcublasLt.so.13", fakeLt, "-DVERSION=130001")
	t.Setenv("NEXTCONV_CUBLAS", broken)
	_, err = load(blas, lt)
	if err == nil || !strings.Contains(err.Error(), broken+" lacks cublasSgemm_v2") {
		t.Errorf("a cuBLAS without cublasSgemm_v2 gave %v", err)
	}
}

// TestCalls runs every wrapper against the fake library: handles, stream,
// math mode, cuBLASLt handles, and SGEMM in all four transpositions with
// padded leading dimensions against a float64 reference.
func TestCalls(t *testing.T) {
	t.Setenv("NEXTCONV_CUBLAS", "")
	t.Setenv("NEXTCONV_CUBLASLT", "")
	l := mustLoad(t)(fakeSpecs(t, 13))
	h, err := l.Create()
	if err != nil || h == 0 {
		t.Fatalf("Create = %#x, %v", h, err)
	}
	read := func(name string) uintptr {
		p, err := l.BLAS.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "fake_math_mode" {
			return uintptr(*(*int32)(p))
		}
		return *(*uintptr)(p)
	}
	if err := l.SetStream(h, 0xabc0); err != nil || read("fake_stream") != 0xabc0 {
		t.Errorf("SetStream: %v, stream %#x", err, read("fake_stream"))
	}
	for _, tf32 := range []bool{true, false} {
		want := uintptr(0)
		if tf32 {
			want = 3
		}
		if err := l.SetMathMode(h, tf32); err != nil || read("fake_math_mode") != want {
			t.Errorf("SetMathMode(%v): %v, mode %d", tf32, err, read("fake_math_mode"))
		}
	}
	if err := l.Destroy(h + 1); err == nil || !strings.Contains(err.Error(), "cublasDestroy_v2: CUBLAS_STATUS_INVALID_VALUE (7)") {
		t.Errorf("Destroy of a wrong handle gave %v", err)
	}
	if err := l.Destroy(h); err != nil {
		t.Error(err)
	}
	lh, err := l.LtCreate()
	if err != nil || lh != 0x2000 {
		t.Errorf("LtCreate = %#x, %v", lh, err)
	}
	if err := l.LtDestroy(lh); err != nil {
		t.Error(err)
	}

	const m, n, k, pad = 3, 5, 4, 2
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		ra, ca, rb, cb := m, k, k, n
		if tr[0] {
			ra, ca = k, m
		}
		if tr[1] {
			rb, cb = n, k
		}
		lda, ldb, ldc := ra+pad, rb+pad, m+pad
		a, b, c := make([]float32, lda*ca), make([]float32, ldb*cb), make([]float32, ldc*n)
		for i := range a {
			a[i] = float32(i%7) - 3
		}
		for i := range b {
			b[i] = float32(i%5)*0.5 - 1
		}
		for i := range c {
			c[i] = float32(i % 3)
		}
		want := make([]float64, len(c))
		for i := range c {
			want[i] = float64(c[i])
		}
		for j := 0; j < n; j++ {
			for i := 0; i < m; i++ {
				s := 0.0
				for p := 0; p < k; p++ {
					ia, ib := i+p*lda, p+j*ldb
					if tr[0] {
						ia = p + i*lda
					}
					if tr[1] {
						ib = j + p*ldb
					}
					av, bv := a[ia], b[ib]
					s += float64(av) * float64(bv)
				}
				want[i+j*ldc] = 1.5*s - 0.5*float64(c[i+j*ldc])
			}
		}
		err := l.Sgemm(h, tr[0], tr[1], m, n, k, 1.5, addr(a), lda, addr(b), ldb, -0.5, addr(c), ldc)
		runtime.KeepAlive(a)
		runtime.KeepAlive(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c {
			if math.Abs(float64(c[i])-want[i]) > 1e-5 {
				t.Fatalf("trans %v: c[%d] = %v, want %v", tr, i, c[i], want[i])
			}
		}
	}
	if err := l.Sgemm(h, false, false, -1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1); err == nil || !strings.Contains(err.Error(), "cublasSgemm_v2") {
		t.Errorf("a rejected SGEMM gave %v", err)
	}
}

// addr is the address of s's backing array, which the fake SGEMM reads
// and writes during the call (Go's heap does not move).
func addr(s []float32) uintptr { return uintptr(unsafe.Pointer(&s[0])) }

// TestLoadInstalled loads the machine's own cuBLAS when it has one (the
// build machine's CUDA 11.8, a GPU machine's 12 or 13): the sonames are
// right, and cublasGetVersion_v2 and cublasLtGetVersion agree without a
// GPU or a handle.
func TestLoadInstalled(t *testing.T) {
	l, err := Load()
	if err != nil {
		t.Skipf("no cuBLAS installed here: %v", err)
	}
	v, err := l.Version(0)
	if err != nil {
		t.Fatalf("%s: %v", l.BLAS.Path, err)
	}
	major := strings.TrimPrefix(filepath.Ext(l.BLAS.Path), ".")
	if strconv.Itoa(v/10000) != major || l.LtVersion() != v {
		t.Errorf("%s reports version %d, %s reports %d", l.BLAS.Path, v, l.Lt.Path, l.LtVersion())
	}
	t.Logf("%s: cuBLAS %d, %s: cuBLASLt %d", l.BLAS.Path, v, l.Lt.Path, l.LtVersion())
}
