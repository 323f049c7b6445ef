package sim_test

import (
	"bytes"
	"math"
	"testing"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

func TestArguments(t *testing.T) {
	d := newDriver(t)
	out := alloc(t, d, 7, int64(0))
	p := alloc(t, d, 4, float32(0))
	launch(t, d, "sim_args", dim1(1), dim1(1), 0, out, int32(-5), uint32(math.MaxUint32), int64(-1<<40), int64(1<<50),
		float32(1.5), float64(-2.25), p)
	got := download[int64](t, d, out, 7)
	want := []int64{-5, math.MaxUint32, -1 << 40, 1 << 50, int64(math.Float32bits(1.5)), int64(math.Float64bits(-2.25)), 1}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("parameter %d arrived as %#x, want %#x", i+1, got[i], want[i])
		}
	}
	launch(t, d, "sim_args", dim1(1), dim1(1), 0, out, int32(0), uint32(0), int64(0), int64(0), float32(0), float64(0), cuda.DevicePtr(0))
	if got := download[int64](t, d, out, 7); got[6] != 0 {
		t.Error("a null pointer argument did not arrive as nullptr")
	}
}

func TestArgumentErrors(t *testing.T) {
	d := newDriver(t)
	y := alloc(t, d, 4, float32(0))
	cases := []struct {
		args []any
		want string
	}{
		{[]any{y, y, float32(1)}, "takes 4 arguments (float* y, float const* x, float a, int n), got 3"},
		{[]any{y, y, float64(1), int32(4)}, "argument 2 (float a) is a Go float64"},
		{[]any{y, int32(0), float32(1), int32(4)}, "argument 1 (float const* x) is a Go int32"},
		{[]any{y, y, float32(1), uint32(4)}, "argument 3 (int n) is a Go uint32"},
		{[]any{y, y, float32(1), int64(4)}, "argument 3 (int n) is a Go int64"},
		{[]any{y, cuda.DevicePtr(0x1000), float32(1), int32(4)}, "parameter 1 (float const* x): 0x1000 is not device memory from Malloc"},
		{[]any{y + 2, y, float32(1), int32(4)}, "parameter 0 (float* y): 0x"},
	}
	for _, c := range cases {
		msg := launchErr(t, d, sim.ErrInvalidLaunch, "sim_axpy", dim1(1), dim1(4), 0, c.args...)
		mustContain(t, msg, c.want)
	}
	mustContain(t, launchErr(t, d, sim.ErrInvalidLaunch, "sim_axpy", dim1(1), dim1(4), 0, y+2, y, float32(1), int32(4)),
		"is not aligned to the 4 bytes its type needs")
	// A launch rejected before running leaves the context usable.
	launch(t, d, "sim_axpy", dim1(1), dim1(4), 0, y, y, float32(1), int32(4))
}

// TestPointerValidation: every pointer argument must be null or point into a
// live allocation of the launching context; a host pointer, a freed buffer
// and another context's buffer are rejected naming the kernel and parameter.
func TestPointerValidation(t *testing.T) {
	d := newDriver(t)
	other := newDriver(t)
	host := make([]float32, 16)
	hostPtr := cuda.DevicePtr(uintptr(unsafe.Pointer(&host[0])))
	y := alloc(t, d, 16, float32(0))
	foreign := alloc(t, other, 16, float32(0))
	// Free last: an allocation after the free may reuse its address.
	freed, err := d.Malloc(64)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Free(freed); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    cuda.DevicePtr
		want string
	}{
		{hostPtr, "is not device memory from Malloc (a host pointer"},
		{freed, "is not device memory from Malloc"},
		{foreign, "belongs to another simulator context"},
	} {
		msg := launchErr(t, d, sim.ErrInvalidLaunch, "sim_axpy", dim1(1), dim1(16), 0, y, c.p, float32(1), int32(16))
		mustContain(t, msg, "cuda launch sim_axpy", "parameter 1 (float const* x)", c.want)
	}
	// The end pointer of an allocation is valid as an argument; null is too.
	launch(t, d, "sim_axpy", dim1(1), dim1(16), 0, y+64, y+64, float32(1), int32(0))
	launch(t, d, "sim_axpy", dim1(1), dim1(16), 0, cuda.DevicePtr(0), cuda.DevicePtr(0), float32(1), int32(0))
	// Memory operations reject host pointers too.
	if err := d.CopyHtoD(hostPtr, make([]byte, 4)); err == nil {
		t.Error("CopyHtoD to a host pointer succeeded")
	}
}

// TestOutOfBoundsWrite: a planted off-by-one store (i <= n) is found in the
// guard bytes after the allocation (plain build); under ASan it is a
// heap-buffer-overflow in a child process (see TestCrashes).
func TestOutOfBoundsWrite(t *testing.T) {
	if sim.ASanBuild() {
		t.Skip("under ASan the planted overflow aborts the process; TestCrashes covers it")
	}
	d := faultDriver(t)
	const n = 100
	y := alloc(t, d, n, float32(0))
	msg := launchErr(t, d, sim.ErrKernelFault, "sim_oob_write", dim1(4), dim1(32), 0, y, int32(n))
	mustContain(t, msg, "out-of-bounds write", "after the end of the 400-byte allocation", "the first at byte 0 past the end",
		"the launch passed it as parameter 0 (float* y)")
	if err := d.Synchronize(); err == nil {
		t.Error("Synchronize after an out-of-bounds write returned nil")
	}
}

func TestDynamicSharedMemory(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		for _, n := range []int{1, 37, 256, 1000} {
			const blocks = 3
			in := make([]float32, blocks*n)
			for i := range in {
				in[i] = float32(i)
			}
			x := upload(t, d, in)
			y := alloc(t, d, blocks*n, float32(0))
			launch(t, d, "sim_dyn_reverse", dim1(blocks), dim1(64), 4*n, y, x, int32(n))
			got := download[float32](t, d, y, blocks*n)
			for b := range blocks {
				for i := range n {
					if want := in[b*n+n-1-i]; got[b*n+i] != want {
						t.Fatalf("n=%d block %d out[%d] = %v, want %v", n, b, i, got[b*n+i], want)
					}
				}
			}
		}
		out := alloc(t, d, 48, float64(0))
		launch(t, d, "sim_dyn_double", dim1(1), dim1(48), 48*8, out)
		for i, g := range download[float64](t, d, out, 48) {
			if want := float64((i+1)%48) * 0.5; g != want {
				t.Fatalf("sim_dyn_double out[%d] = %v, want %v", i, g, want)
			}
		}
		// Dynamic shared memory starts as NaN in every block.
		f := alloc(t, d, 32, float32(0))
		launch(t, d, "sim_dyn_unwritten", dim1(2), dim1(32), 128, f)
		for i, g := range download[float32](t, d, f, 32) {
			if !math.IsNaN(float64(g)) {
				t.Fatalf("unwritten dynamic shared memory read as %v at %d, want NaN", g, i)
			}
		}
	})
	d := newDriver(t)
	f := alloc(t, d, 32, float32(0))
	mustContain(t, launchErr(t, d, sim.ErrInvalidLaunch, "sim_dyn_reverse", dim1(1), dim1(32), 48*1024+4, f, f, int32(1)),
		"exceed the 49152-byte limit")
	mustContain(t, launchErr(t, d, sim.ErrInvalidLaunch, "sim_dyn_reverse", dim1(1), dim1(32), -1, f, f, int32(1)),
		"negative dynamic shared memory")
	if !sim.ASanBuild() {
		d := faultDriver(t)
		out := alloc(t, d, 64, float32(0))
		msg := launchErr(t, d, sim.ErrKernelFault, "sim_dyn_overrun", dim1(1), dim1(64), 4*40, out, int32(40))
		mustContain(t, msg, "out-of-bounds write past the end of the 160 bytes of dynamic shared memory")
	}
}

func TestLaunchGeometry(t *testing.T) {
	d := newDriver(t)
	y := alloc(t, d, 128, float32(0))
	for _, c := range []struct {
		grid, block cuda.Dim3
		want        string
	}{
		{dim1(1), dim1(1025), "CUDA allows at most 1024 per block"},
		{dim1(1), dim(64, 32, 1), "has 2048 threads"},
		{dim1(1), dim(1, 1, 65), "z <= 64"},
		{dim(1, 65536, 1), dim1(1), "exceeds CUDA's limits"},
		{dim1(-1), dim1(1), "negative size -1"},
		{dim1(1), dim1(128), "exceeds the kernel's __launch_bounds__(64)"},
	} {
		msg := launchErr(t, d, sim.ErrInvalidLaunch, "sim_bounded", c.grid, c.block, 0, y)
		mustContain(t, msg, c.want)
	}
	launch(t, d, "sim_bounded", cuda.Dim3{}, dim1(64), 0, y) // zero components mean 1
	got := download[float32](t, d, y, 128)
	for i, g := range got {
		if (i < 64) != (g == 1) {
			t.Fatalf("sim_bounded wrote y[%d] = %v", i, g)
		}
	}
	if _, err := d.Function("no_such_kernel"); err == nil {
		t.Error("Function of an unknown kernel succeeded")
	}
}

func TestBuiltins(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		grid, block := dim(3, 2, 2), dim(5, 3, 2)
		n := 12 * 30
		out := alloc(t, d, 12*n, uint32(0))
		launch(t, d, "sim_builtins", grid, block, 0, out)
		got := download[uint32](t, d, out, 12*n)
		i := 0
		for bz := range 2 {
			for by := range 2 {
				for bx := range 3 {
					for tz := range 2 {
						for ty := range 3 {
							for tx := range 5 {
								want := []uint32{uint32(tx), uint32(ty), uint32(tz), uint32(bx), uint32(by), uint32(bz), 5, 3, 2, 3, 2, 2}
								for k, w := range want {
									if got[12*i+k] != w {
										t.Fatalf("thread %d value %d = %d, want %d", i, k, got[12*i+k], w)
									}
								}
								i++
							}
						}
					}
				}
			}
		}
	})
}

func TestFloat4(t *testing.T) {
	d := newDriver(t)
	const n4 = 33
	in := make([]float32, 4*n4)
	for i := range in {
		in[i] = float32(i) - 7
	}
	x := upload(t, d, in)
	y := alloc(t, d, 4*n4, float32(0))
	launch(t, d, "sim_float4_scale", dim1(2), dim1(32), 0, y, x, float32(2), int32(n4))
	for i, g := range download[float32](t, d, y, 4*n4) {
		if g != 2*in[i] {
			t.Fatalf("y[%d] = %v, want %v", i, g, 2*in[i])
		}
	}
	// A float4 pointer must be 16-byte aligned, as on a GPU.
	mustContain(t, launchErr(t, d, sim.ErrInvalidLaunch, "sim_float4_scale", dim1(1), dim1(32), 0, y+4, x, float32(2), int32(1)),
		"parameter 0 (float4* y)", "not aligned to the 16 bytes")
}

// TestLazyAndForcedThreadingAgree runs race-free kernels of every kind with
// lazy threading and with one OS thread per CUDA thread and requires
// byte-identical results.
func TestLazyAndForcedThreadingAgree(t *testing.T) {
	run := func(forced bool) [][]byte {
		sim.SetForceThreads(forced)
		defer sim.SetForceThreads(false)
		d := newDriver(t)
		in := make([]float32, 256)
		for i := range in {
			in[i] = float32(i%13) * 0.37
		}
		x := upload(t, d, in)
		var outs [][]byte
		get := func(p cuda.DevicePtr, n int) {
			b := make([]byte, n)
			if err := d.CopyDtoH(b, p); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, b)
		}
		y := alloc(t, d, 256, float32(0))
		launch(t, d, "sim_block_sum", dim1(2), dim1(128), 0, y, x)
		get(y, 8)
		launch(t, d, "sim_dyn_reverse", dim1(2), dim1(32), 4*100, y, x, int32(100))
		get(y, 800)
		launch(t, d, "sim_axpy", dim1(4), dim1(64), 0, y, x, float32(0.5), int32(256))
		get(y, 1024)
		v := alloc(t, d, 4*48, uint32(0))
		launch(t, d, "sim_vote", dim1(1), dim1(48), 0, v, int32(3), int32(2))
		get(v, 4*4*48)
		s := alloc(t, d, 5*40, int32(0))
		launch(t, d, "sim_sync_reduce", dim1(1), dim1(40), 0, s, int32(4))
		get(s, 4*5*40)
		b := alloc(t, d, 12*60, uint32(0))
		launch(t, d, "sim_builtins", dim(2, 1, 1), dim(3, 5, 2), 0, b)
		get(b, 4*12*60)
		return outs
	}
	lazy, forced := run(false), run(true)
	for i := range lazy {
		if !bytes.Equal(lazy[i], forced[i]) {
			t.Errorf("output %d differs between lazy and forced threading", i)
		}
	}
}
