package cudasrc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.cu")
	writeFile(t, path, `#include "compat.cuh"
// extern "C" __global__ void commented_out(float* x) {}
/* extern "C" __global__ void also_commented(int n) {} */
extern "C" __global__ void fwd(float* y, const float* __restrict__ x, int n);
extern "C" __global__ void fwd(float* __restrict__ y,
                               const float* __restrict__ x,   // input
                               int n) {
	printf("asm clock() __CUDA_ARCH__\n");
}
extern "C" __global__ void __launch_bounds__(256, 2) bounded(float4* v, unsigned long long count) {}
extern "C" __global__ __launch_bounds__(BLOCK) void bounded2(const int s[], float) {}
extern "C" __global__ void noargs(void) {}
`)
	src, err := Scan(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Kernel{
		{Name: "fwd", Params: []string{"y", "x", "n"}},
		{Name: "bounded", Params: []string{"v", "count"}, Bounds: "256"},
		{Name: "bounded2", Params: []string{"s", ""}, Bounds: "BLOCK"},
		{Name: "noargs"},
	}
	if !reflect.DeepEqual(src.Kernels, want) {
		t.Errorf("kernels\n%+v\nwant\n%+v", src.Kernels, want)
	}
	if len(src.SHA256) != 64 || src.Path != path {
		t.Errorf("SHA256 %q, Path %q", src.SHA256, src.Path)
	}
}

func TestScanRejects(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{`#include <cuda_runtime.h>`, `k.cu:2: #include <cuda_runtime.h>: kernel sources include only "compat.cuh" and the shared *.cuh headers`},
		{`#include "../other/x.cuh"`, `k.cu:2: #include "../other/x.cuh": kernel sources include only`},
		{`#include "gelu.h"`, `k.cu:2: #include "gelu.h"`},
		{`#if __CUDA_ARCH__ >= 800` + "\n#endif", "k.cu:2:"},
		{`__device__ void f() { asm volatile("trap;"); }`, "inline PTX asm"},
		{`void host() { k<<<1, 1>>>(); }`, "launches come from Go"},
		{`extern "C" __global__ void k(float* y) { extern __shared__ float s[]; }`, "CUDA_DYN_SMEM"},
		{`__device__ unsigned f() { return __activemask(); }`, "hardware convergence"},
		{`__device__ int f(int v) { return __shfl_xor(v, 1); }`, "_sync warp functions"},
		{`__device__ long long f() { return clock64(); }`, "clocks, sleeps and traps"},
		{`__global__ void k(float* y) {}`, "k.cu:2: every kernel must be declared extern \"C\" __global__"},
		{`template <int N> __global__ void k(float* y) {}`, "every kernel must be declared"},
	} {
		path := filepath.Join(t.TempDir(), "k.cu")
		writeFile(t, path, "#include \"compat.cuh\"\n"+c.code+"\n")
		_, err := Scan(path)
		if err == nil {
			t.Errorf("%s: accepted", c.code)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.code, err, c.want)
		}
	}
}

func TestScanDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compat.cuh"), "// not scanned\n")
	writeFile(t, filepath.Join(dir, "b.cu"), `#include "compat.cuh"
extern "C" __global__ void zeta(float* y) {}
extern "C" __global__ void alpha(float* y) {}
`)
	writeFile(t, filepath.Join(dir, "a.cu"), `#include "compat.cuh"
extern "C" __global__ void mid(float* y) {}
`)
	srcs, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || filepath.Base(srcs[0].Path) != "a.cu" || filepath.Base(srcs[1].Path) != "b.cu" {
		t.Fatalf("sources not in sorted order: %+v", srcs)
	}
	if got, want := Names(srcs), []string{"alpha", "mid", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	sum, err := HashFile(filepath.Join(dir, "a.cu"))
	if err != nil || sum != srcs[0].SHA256 {
		t.Errorf("HashFile = %q, %v; Scan recorded %q", sum, err, srcs[0].SHA256)
	}
	writeFile(t, filepath.Join(dir, "c.cu"), `#include "compat.cuh"
extern "C" __global__ void mid(float* y, int n) {}
`)
	if _, err := ScanDir(dir); err == nil || err.Error() != "c.cu: kernel mid is also defined in a.cu" {
		t.Errorf("duplicate kernel: %v", err)
	}
	// A directory with only the header has no kernels, and Names is an
	// empty (not nil) list, which generated Go code prints as []string{}.
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "compat.cuh"), "")
	srcs, err = ScanDir(empty)
	if err != nil || len(srcs) != 0 || Names(srcs) == nil || len(Names(srcs)) != 0 {
		t.Errorf("empty directory: %v, %v, %#v", err, srcs, Names(srcs))
	}
}

// TestHeaders: compat.cuh comes first, the other shared headers sorted; a
// header is held to the kernel sources' subset and may not define kernels.
func TestHeaders(t *testing.T) {
	dir := t.TempDir()
	if _, err := Headers(dir); err == nil {
		t.Error("a directory without compat.cuh accepted")
	}
	writeFile(t, filepath.Join(dir, "compat.cuh"), "")
	writeFile(t, filepath.Join(dir, "reduce.cuh"), "#pragma once\n#include \"compat.cuh\"\n")
	writeFile(t, filepath.Join(dir, "activation.cuh"), "#pragma once\n#include \"reduce.cuh\"\n")
	writeFile(t, filepath.Join(dir, "k.cu"), "#include \"activation.cuh\"\nextern \"C\" __global__ void k(float* y) {}\n")
	got, err := Headers(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range got {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"compat.cuh", "activation.cuh", "reduce.cuh"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Headers = %v, want %v", names, want)
	}
	if _, err := ScanDir(dir); err != nil {
		t.Errorf("a source including a shared header: %v", err)
	}
	writeFile(t, filepath.Join(dir, "bad.cuh"), "#pragma once\n\nextern \"C\" __global__ void k2(float* y) {}\n")
	if _, err := Headers(dir); err == nil || !strings.Contains(err.Error(), "bad.cuh:3: shared headers hold device helpers only") {
		t.Errorf("a kernel in a header: %v", err)
	}
	writeFile(t, filepath.Join(dir, "bad.cuh"), "#pragma once\n__device__ int f() { return __CUDA_ARCH__; }\n")
	if _, err := Headers(dir); err == nil || !strings.Contains(err.Error(), "bad.cuh:2:") {
		t.Errorf("__CUDA_ARCH__ in a header: %v", err)
	}
}
