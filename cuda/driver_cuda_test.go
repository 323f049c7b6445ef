//go:build cuda && cgo

package cuda

// These tests need an NVIDIA GPU: a binary built with -tags cuda exits in
// gorgonia.org/cu's init on a machine without one. Build here with
//
//	go test -tags cuda -c -o cuda.test ./cuda
//
// and run ./cuda.test on the GPU machine (scripts/gpu/).

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/bin"
)

//go:embed testdata/driver_test.ptx
var testPTX string

// image is nextconv's kernel module, as kernels/gpu.Image describes it
// (which this package's tests cannot import: kernels/gpu imports cuda).
var image = Image{
	Data:     bin.Image,
	Kernels:  bin.Kernels,
	Compiler: "nvcc " + bin.NVCCVersion,
	Flags:    bin.Flags,
	Rebuild:  "run go generate ./kernels/...",
}

func open(t *testing.T, opts ...Option) *Device {
	t.Helper()
	drv, err := New(image, opts...)
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Device)
	if err := d.addModule(testPTX, "add_one", "echo_args", "smem_sum"); err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesf32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func upload(t *testing.T, d *Device, v []float32) DevicePtr {
	t.Helper()
	p, err := d.Malloc(4 * len(v))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CopyHtoD(p, f32bytes(v)); err != nil {
		t.Fatal(err)
	}
	return p
}

func download(t *testing.T, d *Device, p DevicePtr, n int) []float32 {
	t.Helper()
	b := make([]byte, 4*n)
	if err := d.CopyDtoH(b, p); err != nil {
		t.Fatal(err)
	}
	return bytesf32(b)
}

func fn(t *testing.T, d *Device, name string) Function {
	t.Helper()
	f, err := d.Function(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNew(t *testing.T) {
	d := open(t)
	t.Logf("%s", d)
	if d.Name() != "cuda" || !strings.Contains(d.String(), "sm_") || !strings.Contains(d.String(), bin.NVCCVersion) ||
		!strings.Contains(d.String(), "cuBLAS 1") || !strings.Contains(d.String(), "libcublas.so") {
		t.Errorf("Name %q, String %q", d.Name(), d)
	}
	for _, k := range bin.Kernels {
		if f, err := d.Function(k); err != nil || f.Name() != k {
			t.Errorf("Function(%s) = %v, %v", k, f, err)
		}
	}
	if _, err := d.Function("no_such_kernel"); err == nil || !strings.Contains(err.Error(), "no_such_kernel") || !strings.Contains(err.Error(), "go generate ./kernels/...") {
		t.Errorf("unknown kernel: %v", err)
	}
	if _, err := New(image, WithDevice(1<<20)); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("absent device: %v, want ErrNoCUDA", err)
	}
	lacking := image
	lacking.Kernels = append([]string{"no_such_kernel"}, image.Kernels...)
	if _, err := New(lacking); err == nil || !strings.Contains(err.Error(), "no_such_kernel") || !strings.Contains(err.Error(), lacking.Rebuild) {
		t.Errorf("an image lacking a listed kernel: %v", err)
	}
	if _, err := New(Image{}); err == nil || !strings.Contains(err.Error(), "empty kernel image") {
		t.Errorf("an empty image: %v", err)
	}
}

func TestMemory(t *testing.T) {
	d := open(t)
	v := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	p := upload(t, d, v)
	if got := download(t, d, p, 8); !equal(got, v) {
		t.Errorf("round trip %v", got)
	}
	q, err := d.Malloc(32)
	if err != nil {
		t.Fatal(err)
	}
	if q%256 != 0 {
		t.Errorf("allocation %#x not 256-byte aligned", uintptr(q))
	}
	if err := d.Memset(q, 0, 32); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyDtoD(q+8, p+16, 12); err != nil { // elements 4..6 to 2..4
		t.Fatal(err)
	}
	if got := download(t, d, q, 8); !equal(got, []float32{0, 0, 5, 6, 7, 0, 0, 0}) {
		t.Errorf("memset + DtoD: %v", got)
	}
	if err := d.Memset(q, 0xff, 4); err != nil {
		t.Fatal(err)
	}
	if got := download(t, d, q, 1); !math.IsNaN(float64(got[0])) {
		t.Errorf("memset 0xff: %v", got[0])
	}
	if err := d.Free(p); err != nil {
		t.Fatal(err)
	}
	if err := d.Free(p); err == nil {
		t.Error("double free accepted")
	}
	if _, err := d.Malloc(0); err == nil {
		t.Error("Malloc(0) accepted")
	}
	if err := d.Memset(q, 0, -1); err == nil {
		t.Error("negative memset accepted")
	}
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
	// q is left allocated: Close frees it.
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLaunchArguments checks every argument type the driver passes arrives
// with the right bits (each in its own 8-byte slot).
func TestLaunchArguments(t *testing.T) {
	d := open(t)
	out, err := d.Malloc(6 * 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Launch(fn(t, d, "echo_args"), Dim3{X: 1}, Dim3{X: 32}, 0, packed(t, out, int32(-5), uint32(0xfffffff0), int64(-1<<40), float32(1.5), float64(-2.25))); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6*8)
	if err := d.CopyDtoH(b, out); err != nil {
		t.Fatal(err)
	}
	want := []uint64{uint64(0xfffffffffffffffb), 0xfffffff0, uint64(0xffffff0000000000), uint64(math.Float32bits(1.5)), math.Float64bits(-2.25), uint64(out)}
	for i, w := range want {
		if got := binary.LittleEndian.Uint64(b[8*i:]); got != w {
			t.Errorf("argument %d arrived as %#x, want %#x", i, got, w)
		}
	}
}

func TestLaunch(t *testing.T) {
	d := open(t)
	const n = 100_003
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	p := upload(t, d, v)
	add := fn(t, d, "add_one")
	for range 3 {
		if err := d.Launch(add, Dim3{X: (n + 255) / 256}, Dim3{X: 256}, 0, packed(t, p, int32(n))); err != nil {
			t.Fatal(err)
		}
	}
	got := download(t, d, p, n)
	for i := range got {
		if got[i] != float32(i)+3 {
			t.Fatalf("y[%d] = %v, want %v", i, got[i], float32(i)+3)
		}
	}
	// Dynamic shared memory.
	in := make([]float32, 4*128)
	for i := range in {
		in[i] = float32(i % 7)
	}
	pin, pout := upload(t, d, in), upload(t, d, make([]float32, 4))
	if err := d.Launch(fn(t, d, "smem_sum"), Dim3{X: 4}, Dim3{X: 128}, 128*4, packed(t, pout, pin)); err != nil {
		t.Fatal(err)
	}
	sums := download(t, d, pout, 4)
	for blk := range 4 {
		var want float32
		for _, x := range in[128*blk : 128*(blk+1)] {
			want += x
		}
		if sums[blk] != want {
			t.Errorf("block %d sum %v, want %v", blk, sums[blk], want)
		}
	}
}

func TestLaunchErrors(t *testing.T) {
	d := open(t)
	add := fn(t, d, "add_one")
	p, err := d.Malloc(1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		grid, block Dim3
		args        []any
		want        string
	}{
		{Dim3{X: 1}, Dim3{X: 2048}, []any{p, int32(5)}, "more than 1024"},
		{Dim3{X: -1}, Dim3{X: 32}, []any{p, int32(5)}, "negative size"},
	} {
		err := d.Launch(add, c.grid, c.block, 0, packed(t, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "add_one") {
			t.Errorf("%v %v %v: error %v, want %q", c.grid, c.block, c.args, err, c.want)
		}
	}
	other := open(t)
	if err := d.Launch(fn(t, other, "add_one"), Dim3{X: 1}, Dim3{X: 32}, 0, packed(t, p, int32(5))); err == nil {
		t.Error("a function of another Device accepted")
	}
	// The driver rejects 1 MiB of shared memory when the launch runs on
	// the device goroutine: Synchronize reports it with the kernel's name,
	// once, and the device stays usable.
	if err := d.Launch(fn(t, d, "smem_sum"), Dim3{X: 1}, Dim3{X: 32}, 1<<20, packed(t, p, p)); err != nil {
		t.Fatalf("queued launch returned %v", err)
	}
	if err := d.Synchronize(); err == nil || !strings.Contains(err.Error(), "launch smem_sum") {
		t.Errorf("Synchronize after a bad launch: %v", err)
	}
	if err := d.Synchronize(); err != nil {
		t.Errorf("second Synchronize: %v", err)
	}
	if err := d.Launch(add, Dim3{X: 1}, Dim3{X: 32}, 0, packed(t, p, int32(5))); err != nil {
		t.Error(err)
	}
	if err := d.Synchronize(); err != nil {
		t.Error(err)
	}
}

// sgemmRef is column-major C = alpha·op(A)·op(B) + beta·C in float64.
func sgemmRef(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, len(c))
	for i := range c {
		out[i] = float64(c[i])
	}
	at := func(i, l int) float64 {
		if ta {
			return float64(a[l+i*lda])
		}
		return float64(a[i+l*lda])
	}
	bt := func(l, j int) float64 {
		if tb {
			return float64(b[j+l*ldb])
		}
		return float64(b[l+j*ldb])
	}
	for j := range n {
		for i := range m {
			var s float64
			for l := range k {
				s += at(i, l) * bt(l, j)
			}
			out[i+j*ldc] = float64(alpha)*s + float64(beta)*float64(c[i+j*ldc])
		}
	}
	return out
}

func TestSgemm(t *testing.T) {
	for _, tf32 := range []bool{false, true} {
		d := open(t, WithTF32(tf32))
		rng := rand.New(rand.NewPCG(3, 4))
		randn := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		for _, c := range []struct {
			ta, tb       bool
			m, n, k, pad int
			alpha, beta  float32
		}{
			{false, false, 37, 61, 129, 0, 1, 0},
			{true, false, 64, 33, 96, 3, 0.5, 1},
			{false, true, 5, 300, 17, 1, 1, -2},
			{true, true, 128, 128, 256, 0, -1, 0.25},
		} {
			rowsA, colsA := c.m, c.k
			if c.ta {
				rowsA, colsA = c.k, c.m
			}
			rowsB, colsB := c.k, c.n
			if c.tb {
				rowsB, colsB = c.n, c.k
			}
			lda, ldb, ldc := rowsA+c.pad, rowsB+c.pad, c.m+c.pad
			a, b, cc := randn(lda*colsA), randn(ldb*colsB), randn(ldc*c.n)
			pa, pb, pc := upload(t, d, a), upload(t, d, b), upload(t, d, cc)
			if err := d.Sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, pa, lda, pb, ldb, c.beta, pc, ldc); err != nil {
				t.Fatal(err)
			}
			got := download(t, d, pc, len(cc))
			want := sgemmRef(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cc, ldc)
			// Relative to the sum of |terms|: float32 accumulation over
			// k terms, or TF32's 10-bit mantissa inputs.
			tol := 1e-5 * math.Sqrt(float64(c.k))
			if tf32 {
				tol = 2e-3
			}
			for j := range c.n {
				for i := range c.m {
					idx := i + j*ldc
					scale := math.Sqrt(float64(c.k))*math.Abs(float64(c.alpha)) + math.Abs(float64(c.beta*cc[idx])) + 1
					if e := math.Abs(float64(got[idx]) - want[idx]); e > tol*scale {
						t.Fatalf("tf32=%v %+v: C[%d,%d] = %v, want %v", tf32, c, i, j, got[idx], want[idx])
					}
				}
			}
			for i := c.m; i < ldc; i++ { // padding rows are not touched
				if got[i] != cc[i] {
					t.Fatalf("%+v: padding C[%d] changed", c, i)
				}
			}
		}
		if err := d.Sgemm(false, false, 4, 4, 4, 1, 1, 3, 1, 4, 0, 1, 4); err == nil || !strings.Contains(err.Error(), "lda < 4") {
			t.Errorf("small lda: %v", err)
		}
		if err := d.Sgemm(false, false, 0, 4, 4, 1, 0, 1, 0, 4, 0, 0, 1); err != nil {
			t.Errorf("empty product: %v", err)
		}
		if err := d.Synchronize(); err != nil {
			t.Error(err)
		}
	}
}

func TestEventsAndRanges(t *testing.T) {
	d := open(t)
	const n = 1 << 22
	p, err := d.Malloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	start, err := d.Record()
	if err != nil {
		t.Fatal(err)
	}
	d.RangePush("add_one x10")
	for range 10 {
		if err := d.Launch(fn(t, d, "add_one"), Dim3{X: n / 256}, Dim3{X: 256}, 0, packed(t, p, int32(n))); err != nil {
			t.Fatal(err)
		}
	}
	d.RangePop()
	end, err := d.Record()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := d.Elapsed(start, end)
	if err != nil || ms <= 0 || ms > 10_000 {
		t.Errorf("Elapsed = %v ms, %v", ms, err)
	}
	t.Logf("10 launches over %d floats: %.3f ms (%.0f GB/s)", n, ms, 10*8*n/ms/1e6)
	end.Release()
	if _, err := d.Elapsed(start, end); err == nil {
		t.Error("Elapsed on a released event accepted")
	}
	start.Release()
	if err := d.Synchronize(); err != nil {
		t.Error(err)
	}
}

// TestClose: Close frees what is left, twice is fine, use afterwards is an
// error, and a second Device on the same primary context keeps working.
func TestClose(t *testing.T) {
	keep := open(t)
	drv, err := New(image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Malloc(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := drv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := drv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := drv.Malloc(16); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Malloc after Close: %v", err)
	}
	p := upload(t, keep, []float32{1, 2})
	if got := download(t, keep, p, 2); !equal(got, []float32{1, 2}) {
		t.Errorf("the other device after Close: %v", got)
	}
}

// packed packs launch arguments, failing the test for a value of a type
// Args cannot hold.
func packed(t *testing.T, vals ...any) *Args {
	t.Helper()
	a, err := ArgsOf(vals...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGraphReplay captures three launches of add_one and replays the graph
// twice: every element gains 3 per replay and nothing while capturing.
func TestGraphReplay(t *testing.T) {
	d := open(t)
	const n = 4099
	p := upload(t, d, make([]float32, n))
	add := fn(t, d, "add_one")
	if err := d.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	var a Args
	for range 3 {
		if err := d.Launch(add, Dim3{X: (n + 255) / 256}, Dim3{X: 256}, 0, a.Reset().Ptr(p).Int32(n)); err != nil {
			t.Fatal(err)
		}
	}
	g, err := d.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	if got := download(t, d, p, n); got[0] != 0 || got[n-1] != 0 {
		t.Fatalf("capture ran the launches: %v %v", got[0], got[n-1])
	}
	for range 2 {
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	got := download(t, d, p, n)
	for i, v := range got {
		if v != 6 {
			t.Fatalf("y[%d] = %v after two replays, want 6", i, v)
		}
	}
}
