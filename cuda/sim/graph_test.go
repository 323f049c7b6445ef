package sim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

// TestGraphReplay captures a launch, a memset, a device copy and an Sgemm
// (the launch's Args is refilled while capturing, which must not change
// the recorded launch), checks that nothing ran, and replays the graph
// twice: the memory must equal running the same work eagerly twice.
func TestGraphReplay(t *testing.T) {
	const n = 37
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i) - 7.5
	}
	work := func(d *sim.Driver, y, x, z, c cuda.DevicePtr, a *cuda.Args) {
		t.Helper()
		if err := d.Launch(function(t, d, "sim_axpy"), dim1(2), dim1(32), 0, a.Reset().Ptr(y).Ptr(x).Float32(0.5).Int32(n)); err != nil {
			t.Fatal(err)
		}
		a.Reset().Ptr(0).Ptr(0).Float32(99).Int32(0) // the recorded launch keeps its own copy
		if err := d.Memset(z, 0, 4*n); err != nil {
			t.Fatal(err)
		}
		if err := d.CopyDtoD(z, y, 4*(n-1)); err != nil {
			t.Fatal(err)
		}
		// c[0] (1×1) = y[0..n)·x[0..n) + c[0]
		if err := d.Sgemm(true, false, 1, 1, n, 1, y, n, x, n, 1, c, 1); err != nil {
			t.Fatal(err)
		}
	}
	type state struct{ y, z, c []float32 }
	run := func(graph bool) state {
		d := newDriver(t)
		x, y := upload(t, d, xs), upload(t, d, xs)
		z, c := alloc(t, d, n, float32(-1)), alloc(t, d, 1, float32(2))
		var a cuda.Args
		if !graph {
			work(d, y, x, z, c, &a)
			work(d, y, x, z, c, &a)
		} else {
			if err := d.BeginCapture(); err != nil {
				t.Fatal(err)
			}
			work(d, y, x, z, c, &a)
			g, err := d.EndCapture()
			if err != nil {
				t.Fatal(err)
			}
			if got := download[float32](t, d, z, n); got[0] != -1 || len(d.Launches()) != 0 {
				t.Fatalf("capturing ran work: z[0] = %v, %d launches", got[0], len(d.Launches()))
			}
			for range 2 {
				if err := g.Launch(); err != nil {
					t.Fatal(err)
				}
			}
			if d.Replays() != 2 || len(d.Launches()) != 2 {
				t.Errorf("%d replays, %d launches; want 2 and 2", d.Replays(), len(d.Launches()))
			}
			if err := g.Release(); err != nil {
				t.Fatal(err)
			}
			if err := g.Launch(); !errors.Is(err, sim.ErrCapture) {
				t.Errorf("launching a released graph: %v", err)
			}
		}
		return state{download[float32](t, d, y, n), download[float32](t, d, z, n), download[float32](t, d, c, 1)}
	}
	eager, replayed := run(false), run(true)
	for name, pair := range map[string][2][]float32{"y": {eager.y, replayed.y}, "z": {eager.z, replayed.z}, "c": {eager.c, replayed.c}} {
		for i := range pair[0] {
			if pair[0][i] != pair[1][i] {
				t.Fatalf("%s[%d] = %v replayed, %v eager", name, i, pair[1][i], pair[0][i])
			}
		}
	}
	if eager.y[3] != xs[3]*2 {
		t.Errorf("y[3] = %v, want %v: the work did not run twice", eager.y[3], xs[3]*2)
	}
}

// TestCaptureRejectsHostWork: host copies, synchronisation and Free inside
// a capture fail at once with ErrCapture and make EndCapture fail naming
// the first of them; the context stays usable.
func TestCaptureRejectsHostWork(t *testing.T) {
	d := newDriver(t)
	p := alloc(t, d, 4, float32(1))
	if err := d.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	if err := d.BeginCapture(); !errors.Is(err, sim.ErrCapture) {
		t.Errorf("nested BeginCapture: %v", err)
	}
	if err := d.CopyHtoD(p, make([]byte, 16)); !errors.Is(err, sim.ErrCapture) {
		t.Errorf("CopyHtoD while capturing: %v", err)
	}
	if err := d.Synchronize(); !errors.Is(err, sim.ErrCapture) {
		t.Errorf("Synchronize while capturing: %v", err)
	}
	if _, err := d.EndCapture(); err == nil || !strings.Contains(err.Error(), "capture invalidated") || !strings.Contains(err.Error(), "memcpy HtoD") {
		t.Errorf("EndCapture after a host copy: %v", err)
	}
	if _, err := d.EndCapture(); !errors.Is(err, sim.ErrCapture) {
		t.Errorf("EndCapture without a capture: %v", err)
	}
	if got := download[float32](t, d, p, 4); got[0] != 1 {
		t.Errorf("p[0] = %v after the rejected copy", got[0])
	}
}

// TestReplayFaultNamesKernelAndRange: a kernel that faults when replayed
// is reported with its name and the range it was captured in.
func TestReplayFaultNamesKernelAndRange(t *testing.T) {
	if sim.ASanBuild() {
		t.Skip("under ASan the out-of-bounds write aborts the process instead of being reported")
	}
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	y := alloc(t, d, 100, float32(0))
	if err := d.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	d.RangePush("stages.2.blocks.4.pwconv1")
	if err := d.Launch(function(t, d, "sim_oob_write"), dim1(4), dim1(32), 0, packed(t, []any{y, int32(100)})); err != nil {
		t.Fatal(err)
	}
	d.RangePop()
	g, err := d.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	err = g.Launch()
	if !errors.Is(err, sim.ErrKernelFault) || !strings.Contains(err.Error(), "cuda launch sim_oob_write (in stages.2.blocks.4.pwconv1): ") {
		t.Errorf("replayed fault: %v", err)
	}
}
