package sim_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
	_ "github.com/nextconv/nextconv/cuda/sim/internal/simtest" // the self-test kernels
)

// newDriver returns a simulator context that the test closes, failing the
// test if closing finds an out-of-bounds write.
func newDriver(t testing.TB) *sim.Driver {
	t.Helper()
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// upload allocates device memory holding s.
func upload[T any](t testing.TB, d *sim.Driver, s []T) cuda.DevicePtr {
	t.Helper()
	b := bytesOf(s)
	p, err := d.Malloc(len(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CopyHtoD(p, b); err != nil {
		t.Fatal(err)
	}
	return p
}

// alloc allocates device memory for n values of T, filled with fill.
func alloc[T any](t testing.TB, d *sim.Driver, n int, fill T) cuda.DevicePtr {
	t.Helper()
	s := make([]T, n)
	for i := range s {
		s[i] = fill
	}
	return upload(t, d, s)
}

// download copies n values of T from device memory.
func download[T any](t testing.TB, d *sim.Driver, p cuda.DevicePtr, n int) []T {
	t.Helper()
	s := make([]T, n)
	if err := d.CopyDtoH(bytesOf(s), p); err != nil {
		t.Fatal(err)
	}
	return s
}

func function(t testing.TB, d *sim.Driver, name string) cuda.Function {
	t.Helper()
	f, err := d.Function(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// packed packs launch arguments, failing the test for a value of a type
// cuda.Args cannot hold.
func packed(t testing.TB, args []any) *cuda.Args {
	t.Helper()
	a, err := cuda.ArgsOf(args...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// launch runs kernel name and fails the test on error.
func launch(t testing.TB, d *sim.Driver, name string, grid, block cuda.Dim3, smem int, args ...any) {
	t.Helper()
	if err := d.Launch(function(t, d, name), grid, block, smem, packed(t, args)); err != nil {
		t.Fatalf("launch %s: %v", name, err)
	}
}

// launchErr runs kernel name and returns its error, checking that it wraps
// want.
func launchErr(t testing.TB, d *sim.Driver, want error, name string, grid, block cuda.Dim3, smem int, args ...any) string {
	t.Helper()
	err := d.Launch(function(t, d, name), grid, block, smem, packed(t, args))
	if err == nil {
		t.Fatalf("launch %s succeeded, want an error wrapping %v", name, want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("launch %s: %v; want an error wrapping %v", name, err, want)
	}
	var ce *cuda.Error
	if !errors.As(err, &ce) || ce.Kernel != name || ce.Op != "launch" {
		t.Errorf("launch %s: error %#v does not name the launch and kernel", name, err)
	}
	return err.Error()
}

// faultDriver returns a driver for a test that makes it fault; closing it
// reports the fault again, so its Close error is not checked.
func faultDriver(t testing.TB) *sim.Driver {
	t.Helper()
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func mustContain(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("message %q\ndoes not contain %q", s, sub)
		}
	}
}

// siteLine returns "file:line" of the line of file that contains marker.
func siteLine(t testing.TB, file, marker string) string {
	t.Helper()
	data, err := os.ReadFile("internal/simtest/" + file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, marker) {
			return file + ":" + itoa(i+1)
		}
	}
	t.Fatalf("%s has no line with %s", file, marker)
	return ""
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// bothModes runs f once with lazy threading and once with one OS thread per
// CUDA thread forced (CUDASIM_THREADS=1).
func bothModes(t *testing.T, f func(t *testing.T)) {
	for _, forced := range []bool{false, true} {
		name := "lazy"
		if forced {
			name = "forced"
		}
		t.Run(name, func(t *testing.T) {
			sim.SetForceThreads(forced)
			defer sim.SetForceThreads(false)
			f(t)
		})
	}
}

func dim(x, y, z int) cuda.Dim3 { return cuda.Dim3{X: x, Y: y, Z: z} }
func dim1(x int) cuda.Dim3      { return cuda.Dim3{X: x} }
