package sim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNVCCAcceptsKernels compiles every kernel source the simulator runs
// (the self-test kernels and kernels/src) with nvcc for sm_80, through ptxas
// (-cubin), with warnings as errors, so that the simulator never accepts code
// that nvcc rejects and per-kernel resource limits such as 48 KB of static
// shared memory are checked.
func TestNVCCAcceptsKernels(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("nvcc is not on PATH (the CUDA toolkit, e.g. Debian's nvidia-cuda-toolkit, is needed for this check)")
	}
	for _, dir := range []string{"internal/simtest", "../../kernels/src"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.cu"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			continue
		}
		args := []string{"-arch=sm_80", "-cubin", "-Werror", "all-warnings", "-I", "../../kernels/src", "--output-directory", t.TempDir()}
		out, err := exec.Command(nvcc, append(args, files...)...).CombinedOutput()
		if err != nil {
			t.Errorf("nvcc rejects kernels in %s: %v\n%s", dir, err, out)
		}
	}
}

// TestSimulatorRejects compiles snippets that leave the CUDA subset with the
// simulator's header and expects g++ to refuse them.
func TestSimulatorRejects(t *testing.T) {
	cxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ is not on PATH")
	}
	dir := t.TempDir()
	compile := func(body string) (string, error) {
		src := filepath.Join(dir, "x.cc")
		code := "#include \"compat.cuh\"\n" + body + "\n"
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cxx, "-std=c++20", "-DCUDASIM", "-fsyntax-only", "-I", "../../kernels/src", src)
		cmd.Env = append(os.Environ(), "LC_ALL=C") // ASCII quotes in messages
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := compile(`extern "C" __global__ void k(float* y) { y[threadIdx.x] = expf(y[0]) + __shfl_xor_sync(0xffffffffu, 1.0f, 1); }`); err != nil {
		t.Fatalf("a valid kernel does not compile: %v\n%s", err, out)
	}
	// One translation unit: g++ reports every error, so one run checks all.
	bad := []struct{ body, want string }{
		{`__device__ float f1(float x) { return sinhf(x); }`, "'sinhf' was not declared"},
		{`__device__ unsigned f2() { return __activemask(); }`, "'__activemask' was not declared"},
		{`__device__ void f3(__half* h) { *h = 1.0f; }`, "no match for 'operator='"},
		{`__device__ float4 f4(float4 v) { return __shfl_sync(0xffffffffu, v, 0); }`, "warp shuffles move scalars of at most 8 bytes"},
		{`__device__ int f5() { return __CUDA_ARCH__; }`, "'__CUDA_ARCH__' was not declared"},
	}
	var body []string
	for _, c := range bad {
		body = append(body, c.body)
	}
	out, err := compile(strings.Join(body, "\n"))
	if err == nil {
		t.Fatal("g++ accepts code outside the CUDA subset")
	}
	for _, c := range bad {
		if !strings.Contains(out, c.want) {
			t.Errorf("g++ does not reject %s with %q:\n%s", c.body, c.want, out)
		}
	}
}
