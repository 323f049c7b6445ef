package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// lnCase is one LayerNorm test shape. offset is added to x so that the
// mean is large next to the spread (the case a one-pass variance gets
// wrong).
type lnCase struct {
	rows, C int
	offset  float64
}

// lnCases covers odd channel counts (3, 37, 161: partial warps and a
// partial last pass), ConvNeXt V2-Atto's widths 40 to 320 and their 4C
// expansions (640 and 1280 use the global-slab path of the backward), with
// odd row counts that leave the last block partly empty.
var lnCases = []lnCase{
	{5, 3, 0}, {7, 37, 0}, {9, 161, 0}, {11, 40, 0}, {13, 80, 0}, {7, 160, 0},
	{5, 320, 0}, {3, 640, 0}, {3, 1280, 0}, {17, 37, 4}, {9, 160, 100},
}

// Tolerances against the CPU backend (float64 statistics): forward rtol
// 1e-5 (y also gets an atol for values that cancel to near 0, mean one for
// means near 0), gradients 1e-4.
const (
	lnFwdRtol, lnFwdAtol = 1e-5, 1e-6
	lnBwdRtol, lnBwdAtol = 1e-4, 1e-5
)

// lnCheckPair runs the forward (LayerNorm, or LayerNormGELU when fused) and
// backward of tc on both backends and compares every output and gradient.
// The backward gets the CPU's mean and rstd on both sides, so its
// comparison does not include the forward's rounding. With alias the GPU
// forward runs in place (y = x) and the backward with dx = dy.
func lnCheckPair(p *pair, tc lnCase, fused bool, approx kernels.GELUApprox, alias bool) {
	p.t.Helper()
	s := kernels.NormShape{Rows: tc.rows, C: tc.C, Eps: 1e-6}
	rc, c, r := kernels.Shape{tc.rows, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.rows}
	xv := make([]float32, rc.Len())
	for i := range xv {
		xv[i] = float32(tc.offset + 2*p.rng.Float64() - 1)
	}
	xc, xg := p.from(rc, xv)
	wc, wg := p.in(c, 1)
	bc, bg := p.in(c, 0.5)
	yc, yg := p.outAlias(rc, alias, xg)
	mc, mg := p.out(r)
	sc, sg := p.out(r)
	if fused {
		p.ok(p.cpu.LayerNormGELU(yc, mc, sc, xc, wc, bc, s, approx))
		p.ok(p.gpu.LayerNormGELU(yg, mg, sg, xg, wg, bg, s, approx))
	} else {
		p.ok(p.cpu.LayerNorm(yc, mc, sc, xc, wc, bc, s))
		p.ok(p.gpu.LayerNorm(yg, mg, sg, xg, wg, bg, s))
	}
	p.same("y", yc, yg, lnFwdRtol, lnFwdAtol)
	p.same("mean", mc, mg, lnFwdRtol, 1e-7*(1+tc.offset))
	p.same("rstd", sc, sg, lnFwdRtol, 0)

	if alias { // the forward overwrote x on the device
		_, xg = p.from(rc, xv)
	}
	mg, sg = p.device(mc), p.device(sc)
	dyc, dyg := p.in(rc, 1)
	dxc, dxg := p.outAlias(rc, alias, dyg)
	dwc, dwg := p.acc(c)
	dbc, dbg := p.acc(c)
	if fused {
		p.ok(p.cpu.LayerNormGELUBackward(dxc, dwc, dbc, dyc, xc, mc, sc, wc, bc, s, approx))
		p.ok(p.gpu.LayerNormGELUBackward(dxg, dwg, dbg, dyg, xg, mg, sg, wg, bg, s, approx))
	} else {
		p.ok(p.cpu.LayerNormBackward(dxc, dwc, dbc, dyc, xc, mc, sc, wc, s))
		p.ok(p.gpu.LayerNormBackward(dxg, dwg, dbg, dyg, xg, mg, sg, wg, s))
	}
	p.same("dx", dxc, dxg, lnBwdRtol, lnBwdAtol)
	p.same("dw", dwc, dwg, lnBwdRtol, lnBwdAtol)
	p.same("db", dbc, dbg, lnBwdRtol, lnBwdAtol)
}

func TestLayerNorm(t *testing.T) {
	p := newPair(t, 1)
	for _, tc := range lnCases {
		t.Run(fmt.Sprintf("rows%d_C%d_offset%g", tc.rows, tc.C, tc.offset), func(t *testing.T) {
			p.t = t
			lnCheckPair(p, tc, false, kernels.GELUErf, false)
		})
	}
}

func TestLayerNormInPlace(t *testing.T) {
	p := newPair(t, 2)
	lnCheckPair(p, lnCase{9, 37, 0}, false, kernels.GELUErf, true)
}

// TestLayerNormBackwardPaths forces the backward's other geometries: warps
// that take several rows (few blocks) with the slabs in shared memory, the
// global-slab path at a small C, and one-warp blocks (shared memory for
// one slab only), enough of them that the reduction kernel splits the
// partial rows over several thread rows.
func TestLayerNormBackwardPaths(t *testing.T) {
	for _, tc := range []struct {
		name            string
		shape           lnCase
		maxBlocks, smem int
		check           func(lnPlan) bool
	}{
		{"multirow", lnCase{37, 45, 0}, 2, 48 << 10, func(p lnPlan) bool { return !p.global && p.rowsPerBlock > p.warps }},
		{"global", lnCase{37, 45, 0}, 1024, 64, func(p lnPlan) bool { return p.global }},
		{"global-multirow", lnCase{37, 45, 0}, 1, 64, func(p lnPlan) bool { return p.global && p.rowsPerBlock > p.warps }},
		{"reduce-rows", lnCase{37, 5, 0}, 1024, 40, func(p lnPlan) bool { return p.warps == 1 && lnReduceRows(p) > 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(b, s int) { lnMaxBlocks, lnSmemBytes = b, s }(lnMaxBlocks, lnSmemBytes)
			lnMaxBlocks, lnSmemBytes = tc.maxBlocks, tc.smem
			if plan := planLNBackward(tc.shape.rows, tc.shape.C); !tc.check(plan) {
				t.Fatalf("plan %+v does not exercise %s", plan, tc.name)
			}
			p := newPair(t, 3)
			lnCheckPair(p, tc.shape, false, kernels.GELUErf, false)
			lnCheckPair(p, tc.shape, true, kernels.GELUTanh, false)
		})
	}
}

func TestLayerNormGELU(t *testing.T) {
	p := newPair(t, 4)
	for _, approx := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		for _, tc := range lnCases {
			t.Run(fmt.Sprintf("%v_rows%d_C%d_offset%g", approx, tc.rows, tc.C, tc.offset), func(t *testing.T) {
				p.t = t
				lnCheckPair(p, tc, true, approx, false)
			})
		}
	}
}

func TestLayerNormGELUInPlace(t *testing.T) {
	p := newPair(t, 5)
	lnCheckPair(p, lnCase{11, 161, 0}, true, kernels.GELUErf, true)
	lnCheckPair(p, lnCase{7, 40, 0}, true, kernels.GELUTanh, true)
}

func TestLayerNormErrors(t *testing.T) {
	p := newPair(t, 6)
	s := kernels.NormShape{Rows: 3, C: 5, Eps: 1e-6}
	rc, c, r := kernels.Shape{3, 5}, kernels.Shape{5}, kernels.Shape{3}
	xc, x := p.in(rc, 1)
	_, y := p.out(rc)
	_, w := p.in(c, 1)
	_, b := p.in(c, 1)
	_, m := p.out(r)
	_, sd := p.out(r)
	_, short := p.out(kernels.Shape{4})
	dw, db := w, b
	wantErrors(t, []errCase{
		{"rows 0", p.gpu.LayerNorm(y, m, sd, x, w, b, kernels.NormShape{Rows: 0, C: 5}), kernels.ErrShape},
		{"negative eps", p.gpu.LayerNorm(y, m, sd, x, w, b, kernels.NormShape{Rows: 3, C: 5, Eps: -1}), kernels.ErrShape},
		{"short w", p.gpu.LayerNorm(y, m, sd, x, short, b, s), kernels.ErrShape},
		{"missing y", p.gpu.LayerNorm(kernels.Tensor{}, m, sd, x, w, b, s), kernels.ErrShape},
		{"host x", p.gpu.LayerNorm(y, m, sd, xc, w, b, s), kernels.ErrDType},
		{"backward short rstd", p.gpu.LayerNormBackward(y, dw, db, y, x, m, short, w, s), kernels.ErrShape},
		{"backward host dy", p.gpu.LayerNormBackward(y, dw, db, xc, x, m, sd, w, s), kernels.ErrDType},
		{"gelu short mean", p.gpu.LayerNormGELU(y, short, sd, x, w, b, s, kernels.GELUErf), kernels.ErrShape},
		{"gelu backward missing b", p.gpu.LayerNormGELUBackward(y, dw, db, y, x, m, sd, w, kernels.Tensor{}, s, kernels.GELUTanh), kernels.ErrShape},
	})
	if err := p.gpu.LayerNormGELU(y, m, sd, x, w, b, s, kernels.GELUApprox(7)); err == nil {
		t.Error("LayerNormGELU accepted approx 7")
	}
	if err := p.gpu.LayerNormGELUBackward(y, dw, db, y, x, m, sd, w, b, s, kernels.GELUApprox(2)); err == nil {
		t.Error("LayerNormGELUBackward accepted approx 2")
	}
}
