package gpu

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// dwLaunched runs f and returns the depthwise kernels it launched, the
// weight transpose left out.
func dwLaunched(p *pair, f func()) []string {
	p.t.Helper()
	start := p.gpu.recent.total
	f()
	var q [recentLaunches]queued
	n := p.gpu.recent.last(q[:], p.gpu.recent.total-start)
	if n != p.gpu.recent.total-start {
		p.t.Fatalf("%d launches, more than the %d the ring keeps", p.gpu.recent.total-start, recentLaunches)
	}
	var names []string
	for _, l := range q[:n] {
		if strings.HasPrefix(l.kernel, "dwconv_") && l.kernel != "dwconv_wt_f32" {
			names = append(names, l.kernel)
		}
	}
	return names
}

// sameBits fails unless a and b, device tensors of one shape, hold the
// same bits (bf16 values widen to float32 exactly).
func (p *pair) sameBits(what string, a, b kernels.Tensor) {
	p.t.Helper()
	got, want := make([]float32, a.Len()), make([]float32, b.Len())
	p.ok(p.gpu.Download(got, a))
	p.ok(p.gpu.Download(want, b))
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			p.t.Fatalf("%s[%d]: vector path %v, scalar path %v", what, i, got[i], want[i])
		}
	}
}

// dwVecRun is one DWConv and DWConvBackward on the device, its bf16
// activations views off elements into their allocations (off = 1 breaks
// the 16-byte alignment the vector path needs), and the kernels launched.
type dwVecRun struct {
	y, dx, dw, db kernels.Tensor
	kernels       []string
}

// dwVecCase checks s on bf16 activations: the aligned run takes the
// _vec_bf16 kernels for all three passes exactly when vec, the run one
// element off the alignment takes the scalar tiled kernels, the two agree
// bit for bit (y, dx, dw, db: the vector path changes where values are
// read from, never what is summed or in what order), and the aligned run
// matches the CPU emulation as dwCheckPair16 does.
func dwVecCase(p *pair, s kernels.DWConvShape, vec bool) {
	p.t.Helper()
	xv, dyv := p.randVals(s.XShape().Len(), 1), p.randVals(s.YShape().Len(), 1)
	nanX, nanY := make([]float32, s.XShape().Len()), make([]float32, s.YShape().Len())
	for i := range nanX {
		nanX[i] = float32(math.NaN())
	}
	copy(nanY, nanX)
	wc, wg := p.in(s.WShape(), 1)
	bc, bg := p.in(kernels.Shape{s.C}, 1)
	dwInit, dbInit := p.randVals(s.WShape().Len(), 1), p.randVals(s.C, 1)
	run := func(off int) (r dwVecRun, xc, dyc kernels.Tensor) {
		xc, xg := p.view16(s.XShape(), xv, off)
		dyc, dyg := p.view16(s.YShape(), dyv, off)
		_, r.y = p.view16(s.YShape(), nanY, off)
		_, r.dx = p.view16(s.XShape(), nanX, off)
		_, r.dw = p.from(s.WShape(), dwInit)
		_, r.db = p.from(kernels.Shape{s.C}, dbInit)
		r.kernels = dwLaunched(p, func() {
			p.ok(p.gpu.DWConv(r.y, xg, wg, bg, s))
			p.ok(p.gpu.DWConvBackward(r.dx, r.dw, r.db, dyg, xg, wg, s))
		})
		return r, xc, dyc
	}
	v, xc, dyc := run(0)
	sc, _, _ := run(1)
	if len(v.kernels) != 3 || len(sc.kernels) != 3 {
		p.t.Fatalf("launched %v and %v, want forward, input and weight gradient each", v.kernels, sc.kernels)
	}
	for i := range v.kernels {
		if strings.HasSuffix(v.kernels[i], "_vec_bf16") != vec {
			p.t.Fatalf("aligned run launched %v; want vector kernels: %v", v.kernels, vec)
		}
		if strings.Contains(sc.kernels[i], "_vec_") {
			p.t.Fatalf("unaligned run launched %v, a vector kernel", sc.kernels)
		}
	}
	p.sameBits("y", v.y, sc.y)
	p.sameBits("dx", v.dx, sc.dx)
	p.sameBits("dw", v.dw, sc.dw)
	p.sameBits("db", v.db, sc.db)

	yc, _ := p.out16(s.YShape())
	p.ok(p.cpu.DWConv(yc, xc, wc, bc, s))
	p.same16("y", yc, v.y, 1e-5)
	dxc, _ := p.out16(s.XShape())
	dwc, _ := p.from(s.WShape(), dwInit)
	dbc, _ := p.from(kernels.Shape{s.C}, dbInit)
	p.ok(p.cpu.DWConvBackward(dxc, dwc, dbc, dyc, xc, wc, s))
	p.same16("dx", dxc, v.dx, 1e-5)
	p.same("dw", dwc, v.dw, 1e-4, 1e-4)
	p.same("db", dbc, v.db, 1e-4, 1e-4)
}

// dwVecCases runs dwVecCase on each shape in a subtest: those with C % 8
// == 0 must take the vector path, the others the scalar one.
func dwVecCases(t *testing.T, seed uint64, shapes []kernels.DWConvShape) {
	p := newPair(t, seed)
	for _, s := range shapes {
		t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", s.K, s.Stride, s.N, s.H, s.W, s.C), func(t *testing.T) {
			p.t = t
			dwVecCase(p, s, s.C%8 == 0)
		})
	}
}

// TestBF16DWConvVectorPath runs dwVecCase on every compiled (K, stride)
// pair: channel counts that are multiples of 8 (one group, several, and
// more than one weight-gradient block at C = 264, whose last block has a
// channel group past C) take the vector path, odd ones (13) the scalar
// path; images one pixel high or wide, partial 4×4 tiles, and images of
// several 16×16-pixel vector blocks with partial blocks at both edges.
func TestBF16DWConvVectorPath(t *testing.T) {
	var shapes []kernels.DWConvShape
	for _, k := range []int{3, 5, 7, 9} {
		for _, stride := range []int{1, 2} {
			for _, z := range []struct{ N, H, W, C int }{{2, 9, 6, 16}, {1, 1, 7, 8}, {1, 6, 1, 24}, {1, 19, 21, 8}, {2, 5, 7, 13}} {
				shapes = append(shapes, kernels.DWConvShape{N: z.N, H: z.H, W: z.W, C: z.C, K: k, Stride: stride})
			}
		}
	}
	shapes = append(shapes,
		kernels.DWConvShape{N: 1, H: 35, W: 33, C: 8, K: 5, Stride: 2},
		kernels.DWConvShape{N: 1, H: 5, W: 6, C: 264, K: 7, Stride: 1})
	dwVecCases(t, 89, shapes)
}

// TestBF16DWConvVectorTilesPerThread makes the vector weight-gradient
// threads sum several tiles each (80 tiles, TY = 15 threads a channel, 5
// tiles a thread: a second chunk of 5 tiles), and runs a chunk of fewer
// tiles (18) than the block has threads a channel (TY = 32).
func TestBF16DWConvVectorTilesPerThread(t *testing.T) {
	saved := dwMinBlocks
	dwMinBlocks = 1
	t.Cleanup(func() { dwMinBlocks = saved })
	dwVecCases(t, 97, []kernels.DWConvShape{
		{N: 5, H: 14, W: 15, C: 16, K: 7, Stride: 1},
		{N: 2, H: 17, W: 23, C: 8, K: 3, Stride: 2},
	})
}
