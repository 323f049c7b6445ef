package sim_test

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
)

func TestBlockReverse3D(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		grid, block := dim(2, 2, 1), dim(4, 3, 2) // 4 blocks of 24 threads
		n := 4 * 24
		in := make([]float32, n)
		for i := range in {
			in[i] = float32(i)
		}
		x := upload(t, d, in)
		y := alloc(t, d, n, float32(0))
		launch(t, d, "sim_block_reverse", grid, block, 0, y, x)
		got := download[float32](t, d, y, n)
		for b := 0; b < 4; b++ {
			for i := 0; i < 24; i++ {
				if want := in[b*24+23-i]; got[b*24+i] != want {
					t.Fatalf("block %d out[%d] = %v, want %v", b, i, got[b*24+i], want)
				}
			}
		}
	})
}

func TestBlockSum(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		const blocks, threads = 3, 128
		in := make([]float32, blocks*threads)
		for i := range in {
			in[i] = float32(i%17) - 3
		}
		x := upload(t, d, in)
		y := alloc(t, d, blocks, float32(0))
		launch(t, d, "sim_block_sum", dim1(blocks), dim1(threads), 0, y, x)
		got := download[float32](t, d, y, blocks)
		for b := range blocks {
			var want float32
			for _, v := range in[b*threads : (b+1)*threads] {
				want += v
			}
			if got[b] != want {
				t.Errorf("block %d: sum %v, want %v", b, got[b], want)
			}
		}
		if !sim.Threaded("sim_block_sum") {
			t.Error("sim_block_sum reached __syncthreads but is not recorded as threaded")
		}
	})
}

// TestExitedThreadsReleaseBarriers: threads that return are not waited for
// (PTX exit semantics), including when the first threads return before the
// first one reaches a barrier; with strict mode (the default) the same kernel
// is rejected because a thread returned before a barrier.
func TestExitedThreadsReleaseBarriers(t *testing.T) {
	cases := []struct{ lo, hi int }{{0, 40}, {5, 64}, {0, 1}, {33, 34}, {7, 19}}
	for _, c := range cases {
		t.Run("", func(t *testing.T) {
			sim.SetStrict(false)
			defer sim.SetStrict(true)
			d := newDriver(t)
			const n, rounds = 64, 3
			out := alloc(t, d, n, int32(-7))
			launch(t, d, "sim_exit_outside", dim1(1), dim1(n), 0, out, int32(c.lo), int32(c.hi), int32(rounds))
			got := download[int32](t, d, out, n)
			for i, g := range got {
				want := int32(-7)
				if i >= c.lo && i < c.hi {
					want = int32((i - c.lo + rounds) % (c.hi - c.lo))
				}
				if g != want {
					t.Fatalf("lo=%d hi=%d: out[%d] = %d, want %d", c.lo, c.hi, i, g, want)
				}
			}
		})
	}
	t.Run("strict", func(t *testing.T) {
		d := faultDriver(t)
		out := alloc(t, d, 64, int32(0))
		msg := launchErr(t, d, sim.ErrKernelFault, "sim_exit_outside", dim1(1), dim1(64), 0, out, int32(0), int32(40), int32(2))
		mustContain(t, msg, "returned before the __syncthreads", "CUDASIM_STRICT=0", "barrier.cu:")
	})
	t.Run("all-active-strict", func(t *testing.T) {
		d := newDriver(t)
		out := alloc(t, d, 64, int32(0))
		launch(t, d, "sim_exit_outside", dim1(2), dim1(64), 0, out, int32(0), int32(64), int32(2))
	})
}

func TestDivergentSyncthreads(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := faultDriver(t)
		out := alloc(t, d, 64, int32(0))
		msg := launchErr(t, d, sim.ErrKernelFault, "sim_divergent", dim1(1), dim1(64), 0, out)
		mustContain(t, msg, "divergent barrier", siteLine(t, "barrier.cu", "SITE_A"), siteLine(t, "barrier.cu", "SITE_B"), "block (0,0,0) thread (")
		// The context is unusable afterwards, as after a GPU fault.
		if _, err := d.Malloc(4); err == nil {
			t.Error("Malloc after a kernel fault succeeded")
		}
		if err := d.Synchronize(); err == nil {
			t.Error("Synchronize after a kernel fault returned nil")
		}
	})
}

func TestSyncthreadsCountAndOr(t *testing.T) {
	for _, threads := range []int{1, 33, 96} {
		for _, mod := range []int{1, 3, 1000} {
			d := newDriver(t)
			out := alloc(t, d, 5*threads, int32(-1))
			launch(t, d, "sim_sync_reduce", dim1(1), dim1(threads), 0, out, int32(mod))
			got := download[int32](t, d, out, 5*threads)
			count := int32(0)
			for i := 0; i < threads; i++ {
				if i%mod == 0 {
					count++
				}
			}
			b := func(v bool) int32 {
				if v {
					return 1
				}
				return 0
			}
			want := []int32{count, b(count == int32(threads)), b(count > 0), 1, 0}
			for i := 0; i < threads; i++ {
				for k := range 5 {
					if got[5*i+k] != want[k] {
						t.Fatalf("threads=%d mod=%d: thread %d result %d = %d, want %d", threads, mod, i, k, got[5*i+k], want[k])
					}
				}
			}
		}
	}
}

// TestPoisonedSharedMemory: static shared memory starts as 0xff bytes (NaN)
// in every block, so a missing __syncthreads or an unwritten element shows up
// as NaN instead of a plausible stale value.
func TestPoisonedSharedMemory(t *testing.T) {
	if sim.ASanBuild() {
		t.Skip("static __shared__ variables are plain statics (not poisoned) under ASan, so that ASan keeps its redzones")
	}
	d := newDriver(t)
	const n = 64
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i + 1)
	}
	x := upload(t, d, in)
	y := alloc(t, d, n, float32(0))
	// Run twice: the second run must not see the first run's values.
	for range 2 {
		launch(t, d, "sim_missing_sync", dim1(1), dim1(n), 0, y, x)
		got := download[float32](t, d, y, n)
		if !math.IsNaN(float64(got[0])) {
			t.Errorf("planted missing __syncthreads: out[0] = %v, want NaN (thread 0 reads s[1] before thread 1 wrote it)", got[0])
		}
	}
	launch(t, d, "sim_unwritten_shared", dim1(1), dim1(64), 0, y)
	got := download[float32](t, d, y, n)
	for i, g := range got {
		if i < 32 && g != 1 || i >= 32 && !math.IsNaN(float64(g)) {
			t.Fatalf("sim_unwritten_shared: out[%d] = %v", i, g)
		}
	}
}

// TestDeadlockWatchdog: lanes waiting in __syncwarp and __syncthreads at the
// same time can never be released; the watchdog fails the launch and says
// who waits where.
func TestDeadlockWatchdog(t *testing.T) {
	sim.SetTimeout(300e6) // 300 ms
	defer sim.SetTimeout(0)
	d := faultDriver(t)
	out := alloc(t, d, 32, int32(0))
	msg := launchErr(t, d, sim.ErrKernelFault, "sim_deadlock", dim1(1), dim1(32), 0, out)
	mustContain(t, msg, "deadlock", "16 thread(s) wait in __syncthreads at "+siteLine(t, "barrier.cu", "SITE_D"),
		"warp 0: 16 lane(s) wait in __syncwarp at "+siteLine(t, "barrier.cu", "SITE_C"))
}
