package sim_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
)

// TestCrashes runs conditions that end the process (an endless loop caught
// by the watchdog; memory errors caught by ASan) in a child process, a copy
// of this test binary running TestCrashChild, and checks its exit status and
// message.
func TestCrashes(t *testing.T) {
	if os.Getenv("CUDASIM_CHILD") != "" {
		t.Skip("inside a child")
	}
	cases := []struct {
		name string
		asan bool // only under ASan (the plain build reports these as errors)
		env  []string
		want []string
	}{
		{name: "spin-serial", env: []string{"CUDASIM_TIMEOUT=0.3"},
			want: []string{"cudasim: fatal: kernel sim_spin made no progress", "thread (0,0,0) neither returned nor reached a synchronising built-in"}},
		{name: "spin-threaded", env: []string{"CUDASIM_TIMEOUT=0.3", "CUDASIM_THREADS=1"},
			want: []string{"1 thread(s) neither returned nor reached a synchronising built-in", "the first is thread (0,0,0)",
				"31 thread(s) wait in __syncthreads at barrier.cu:"}},
		// Frames name memory.cu only when the binary keeps its symbols
		// (scripts/sim-asan.sh links with -s=false -w=false).
		{name: "oob-write", asan: true, want: []string{"ERROR: AddressSanitizer: heap-buffer-overflow", "WRITE of size 4",
			"0 bytes to the right of 400-byte region"}},
		{name: "dyn-overrun", asan: true, want: []string{"ERROR: AddressSanitizer: heap-buffer-overflow", "WRITE of size 4",
			"0 bytes to the right of 160-byte region"}},
		{name: "static-overrun", asan: true, want: []string{"runtime error: index ", "out of bounds for type 'float [32]'"}},
		{name: "misaligned-float4", asan: true, want: []string{"misaligned address", "requires 16 byte alignment"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.asan && !sim.ASanBuild() {
				t.Skip("plain build: out-of-bounds global and dynamic shared writes are found in guard bytes instead (TestOutOfBoundsWrite, TestDynamicSharedMemory); static shared overruns and misaligned vector loads need UBSan")
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(append(os.Environ(), "CUDASIM_CHILD="+c.name), c.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("child %s: %v, want a crash; output:\n%s", c.name, err, out)
			}
			if strings.Contains(string(out), "child survived") {
				t.Fatalf("child %s survived:\n%s", c.name, out)
			}
			mustContain(t, string(out), c.want...)
		})
	}
}

// TestCrashChild is the child side of TestCrashes.
func TestCrashChild(t *testing.T) {
	name := os.Getenv("CUDASIM_CHILD")
	if name == "" {
		t.Skip("run by TestCrashes in a child process")
	}
	d := newDriver(t)
	switch name {
	case "spin-serial", "spin-threaded":
		flag := alloc(t, d, 1, int32(0))
		threaded := int32(0)
		if name == "spin-threaded" {
			threaded = 1
		}
		launch(t, d, "sim_spin", dim1(1), dim1(32), 0, flag, threaded)
	case "oob-write":
		y := alloc(t, d, 100, float32(0))
		launch(t, d, "sim_oob_write", dim1(4), dim1(32), 0, y, int32(100))
	case "static-overrun":
		out := alloc(t, d, 64, float32(0))
		launch(t, d, "sim_static_overrun", dim1(1), dim1(64), 0, out)
	case "misaligned-float4":
		y := alloc(t, d, 8, float32(0))
		launch(t, d, "sim_misaligned_float4", dim1(1), dim1(1), 0, y, y)
	case "dyn-overrun":
		out := alloc(t, d, 64, float32(0))
		launch(t, d, "sim_dyn_overrun", dim1(1), dim1(64), 4*40, out, int32(40))
	}
	t.Fatalf("child survived %s", name)
}
