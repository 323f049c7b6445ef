package sim_test

import (
	"math"
	"testing"
)

func TestAtomics(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		for _, c := range []struct{ blocks, threads, wrap int }{{1, 1, 0}, {3, 64, 10}, {5, 96, 7}} {
			d := newDriver(t)
			n := c.blocks * c.threads
			ip := upload(t, d, []int32{0, 0, 0, math.MaxInt32, math.MinInt32, 0})
			up := upload(t, d, []uint32{0, 0, math.MaxUint32, 0, 0})
			ullp := upload(t, d, []uint64{1 << 40})
			fp := upload(t, d, []float32{1})
			dp := upload(t, d, []float64{-1})
			bitsp := upload(t, d, []uint32{0, math.MaxUint32, 0})
			launch(t, d, "sim_atomics", dim1(c.blocks), dim1(c.threads), 0, ip, up, ullp, fp, dp, bitsp, uint32(c.wrap))
			gi := download[int32](t, d, ip, 6)
			gu := download[uint32](t, d, up, 5)
			gull := download[uint64](t, d, ullp, 1)
			gf := download[float32](t, d, fp, 1)
			gd := download[float64](t, d, dp, 1)
			gbits := download[uint32](t, d, bitsp, 3)

			inc, dec := uint32(0), uint32(0)
			var or, and, xor uint32 = 0, math.MaxUint32, 0
			for k := range n {
				// CUDA's wrap-around: atomicInc stores old >= v ? 0 : old+1,
				// atomicDec stores old == 0 || old > v ? v : old-1.
				if inc >= uint32(c.wrap) {
					inc = 0
				} else {
					inc++
				}
				if dec == 0 || dec > uint32(c.wrap) {
					dec = uint32(c.wrap)
				} else {
					dec--
				}
				bit := uint32(1) << (k % 32)
				or |= bit
				and &^= bit
				xor ^= bit
			}
			wantI := []int32{int32(n), int32(-2 * n), 7, -1000, int32(n - 1), int32(n)}
			wantU := []uint32{uint32(3 * n), uint32(n - 1), 5, inc, dec}
			for i := range wantI {
				if gi[i] != wantI[i] {
					t.Errorf("%+v: int result %d = %d, want %d", c, i, gi[i], wantI[i])
				}
			}
			for i := range wantU {
				if gu[i] != wantU[i] {
					t.Errorf("%+v: unsigned result %d = %d, want %d", c, i, gu[i], wantU[i])
				}
			}
			if want := uint64(1<<40 + n*(n-1)/2); gull[0] != want {
				t.Errorf("%+v: unsigned long long sum %d, want %d", c, gull[0], want)
			}
			if want := float32(1 + 0.5*float64(n)); gf[0] != want {
				t.Errorf("%+v: float sum %v, want %v", c, gf[0], want)
			}
			if want := -1 + 0.25*float64(n); gd[0] != want {
				t.Errorf("%+v: double sum %v, want %v", c, gd[0], want)
			}
			if gbits[0] != or || gbits[1] != and || gbits[2] != xor {
				t.Errorf("%+v: or/and/xor = %#x %#x %#x, want %#x %#x %#x", c, gbits[0], gbits[1], gbits[2], or, and, xor)
			}
		}
	})
}

func TestAtomicHistogramThreaded(t *testing.T) {
	d := newDriver(t)
	const n, bins = 1000, 7
	in := make([]int32, n)
	want := make([]uint32, bins)
	for i := range in {
		in[i] = int32(i * i % 101)
		want[in[i]%bins]++
	}
	x := upload(t, d, in)
	h := alloc(t, d, bins, uint32(0))
	launch(t, d, "sim_histogram", dim1((n+127)/128), dim1(128), 0, h, x, int32(n), int32(bins))
	got := download[uint32](t, d, h, bins)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bin %d: %d, want %d", i, got[i], want[i])
		}
	}
}
