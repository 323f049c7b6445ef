package sim_test

import (
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
)

// ptxSource is PTX shfl.sync's source lane for CUDA's __shfl*_sync (PTX ISA
// "shfl.sync"; the c operand as CUDA 11.8's sm_30_intrinsics.hpp builds it).
func ptxSource(mode, lane, b, width int) int {
	c := (32 - width) << 8
	if mode != 1 {
		c |= 0x1f
	}
	bval, cval, seg := b&31, c&31, (c>>8)&31
	maxLane := (lane & seg) | (cval &^ seg)
	minLane := lane & seg
	var j int
	var ok bool
	switch mode {
	case 0:
		j = minLane | (bval &^ seg)
		ok = j <= maxLane
	case 1:
		j = lane - bval
		ok = j >= maxLane
	case 2:
		j = lane + bval
		ok = j <= maxLane
	default:
		j = lane ^ bval
		ok = j <= maxLane
	}
	if !ok {
		return lane
	}
	return j
}

// guideSource is the same rule as the CUDA Programming Guide words it, for
// operands below 32: lanes form segments of width lanes; idx reads lane b of
// the segment, up and down stay inside the segment, xor may reach an earlier
// segment but reading a later one returns the caller's own value.
func guideSource(mode, lane, b, width int) int {
	start := lane / width * width
	switch mode {
	case 0:
		return start + b%width
	case 1:
		if lane-start >= b {
			return lane - b
		}
	case 2:
		if lane-start+b < width {
			return lane + b
		}
	default:
		if j := lane ^ b; j < start+width {
			return j
		}
	}
	return lane
}

func TestShuffleTable(t *testing.T) {
	// The two formulations agree for operands 0..31 (docs/CUDASIM.md section 2.3).
	for mode := range 4 {
		for w := 1; w <= 32; w *= 2 {
			for b := range 32 {
				for lane := range 32 {
					if p, g := ptxSource(mode, lane, b, w), guideSource(mode, lane, b, w); p != g {
						t.Fatalf("mode %d width %d b %d lane %d: PTX %d, guide %d", mode, w, b, lane, p, g)
					}
				}
			}
		}
	}
	// Hand-checked points.
	for _, c := range []struct{ mode, lane, b, w, want int }{
		{3, 5, 16, 32, 21}, {3, 21, 16, 16, 5}, {3, 5, 16, 16, 5}, {2, 14, 2, 16, 14}, {2, 13, 2, 16, 15},
		{1, 16, 1, 16, 16}, {1, 17, 1, 16, 16}, {0, 9, 3, 8, 11}, {0, 9, 35, 32, 3}, {2, 0, 33, 32, 1},
	} {
		if got := ptxSource(c.mode, c.lane, c.b, c.w); got != c.want {
			t.Errorf("ptxSource(mode %d, lane %d, b %d, width %d) = %d, want %d", c.mode, c.lane, c.b, c.w, got, c.want)
		}
	}

	d := newDriver(t)
	const threads, nb = 64, 40 // two warps; operands 32..39 check the 5-bit truncation
	n := 4 * 6 * nb * threads
	out := alloc(t, d, n, int32(-1))
	launch(t, d, "sim_shfl_table", dim1(1), dim1(threads), 0, out, int32(nb))
	got := download[int32](t, d, out, n)
	idx, bad := 0, 0
	for mode := range 4 {
		for w := 1; w <= 32; w *= 2 {
			for b := range nb {
				for tid := range threads {
					warp, lane := tid/32, tid%32
					want := int32(7*(warp*32+ptxSource(mode, lane, b, w)) + 3)
					if g := got[idx*threads+tid]; g != want && bad < 10 {
						bad++
						t.Errorf("mode %d width %d b %d thread %d: got %d, want %d", mode, w, b, tid, g, want)
					}
				}
				idx++
			}
		}
	}
}

func TestShuffleTypes(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		const n = 64
		o64 := alloc(t, d, n, int64(0))
		od := alloc(t, d, n, float64(0))
		of := alloc(t, d, n, float32(0))
		sums := alloc(t, d, n, int32(0))
		launch(t, d, "sim_shfl_types", dim1(1), dim1(n), 0, o64, od, of, sums)
		g64 := download[int64](t, d, o64, n)
		gd := download[float64](t, d, od, n)
		gf := download[float32](t, d, of, n)
		gs := download[int32](t, d, sums, n)
		for i := range n {
			w, l := i/32*32, i%32
			j := w + l ^ 5
			if want := int64(j)<<40 | int64(j); g64[i] != want {
				t.Errorf("int64 xor: lane %d got %#x want %#x", i, g64[i], want)
			}
			src := i
			if l+3 < 32 {
				src = i + 3
			}
			if want := float64(src) + 0.5; gd[i] != want {
				t.Errorf("double down: lane %d got %v want %v", i, gd[i], want)
			}
			if want := float32(w+31-l) * 1.5; gf[i] != want {
				t.Errorf("float idx: lane %d got %v want %v", i, gf[i], want)
			}
			if want := int32(32*w + 31*16); gs[i] != want {
				t.Errorf("xor butterfly sum: lane %d got %d want %d", i, gs[i], want)
			}
		}
	})
}

// TestVotes checks ballot/any/all on full and partial warps: bits only for
// lanes that exist, and __all_sync against the lanes that took part, not the
// mask (docs/CUDASIM.md section 2.5).
func TestVotes(t *testing.T) {
	for _, threads := range []int{32, 48, 64, 7} {
		for _, c := range []struct{ mod, r int }{{1, 0}, {3, 1}, {1000, 0}, {1000, 999}} {
			d := newDriver(t)
			out := alloc(t, d, 4*threads, uint32(0))
			launch(t, d, "sim_vote", dim1(1), dim1(threads), 0, out, int32(c.mod), int32(c.r))
			got := download[uint32](t, d, out, 4*threads)
			for tid := range threads {
				w := tid / 32
				var ballot, lanes uint32
				for l := 0; l < 32 && w*32+l < threads; l++ {
					lanes |= 1 << l
					if (w*32+l)%c.mod == c.r {
						ballot |= 1 << l
					}
				}
				b := func(v bool) uint32 {
					if v {
						return 1
					}
					return 0
				}
				want := []uint32{ballot, b(ballot != 0), b(ballot == lanes), 1}
				for k := range 4 {
					if got[4*tid+k] != want[k] {
						t.Fatalf("threads %d mod %d r %d: thread %d vote %d = %#x, want %#x", threads, c.mod, c.r, tid, k, got[4*tid+k], want[k])
					}
				}
			}
		}
	}
}

func TestSyncwarpReduction(t *testing.T) {
	bothModes(t, func(t *testing.T) {
		d := newDriver(t)
		const blocks, threads = 2, 64
		in := make([]float32, blocks*threads)
		for i := range in {
			in[i] = float32(i)
		}
		x := upload(t, d, in)
		y := alloc(t, d, blocks*threads/32, float32(0))
		launch(t, d, "sim_warp_reduce_smem", dim1(blocks), dim1(threads), 0, y, x)
		got := download[float32](t, d, y, blocks*threads/32)
		for w := range got {
			var want float32
			for _, v := range in[32*w : 32*w+32] {
				want += v
			}
			if got[w] != want {
				t.Errorf("warp %d: sum %v, want %v", w, got[w], want)
			}
		}
	})
}

func TestWarpErrors(t *testing.T) {
	cases := []struct {
		kernel  string
		threads int
		want    []string
	}{
		{"sim_mask_excludes_self", 32, []string{"does not include the calling lane 3", "thread (3,0,0)"}},
		{"sim_mask_mismatch", 32, []string{"pass different masks", "0xfffffffe"}},
		{"sim_shfl_exited", 32, []string{"reads lane ", "did not take part"}},
		{"sim_shfl_exited", 20, []string{"reads lane ", "did not take part"}}, // lanes past the block
		{"sim_warp_divergent", 32, []string{"divergent warp collective"}},
		{"sim_bad_width", 32, []string{"width 12 is not a power of two"}},
	}
	for _, c := range cases {
		t.Run(c.kernel, func(t *testing.T) {
			d := faultDriver(t)
			out := alloc(t, d, 32, int32(0))
			msg := launchErr(t, d, sim.ErrKernelFault, c.kernel, dim1(1), dim1(c.threads), 0, out)
			mustContain(t, msg, c.want...)
		})
	}
	t.Run("sites", func(t *testing.T) {
		d := faultDriver(t)
		out := alloc(t, d, 32, int32(0))
		msg := launchErr(t, d, sim.ErrKernelFault, "sim_warp_divergent", dim1(1), dim1(32), 0, out)
		mustContain(t, msg, siteLine(t, "warp.cu", "SITE_E"), siteLine(t, "warp.cu", "SITE_F"))
	})
}
