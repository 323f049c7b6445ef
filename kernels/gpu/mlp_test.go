package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// TestMLPFused runs the fused MLP ops on the simulator against the CPU
// backend on grnCases' shapes (HW = 1, odd C, three HW chunks, all-zero
// GRN inputs are not reachable through GELU, so zero lists are ignored)
// with GRN's tolerances: h, sumSq, y and gnorm forward; da, dbias, dgamma
// and dbeta backward (the backward gets the CPU's h and gnorm on both
// sides).
func TestMLPFused(t *testing.T) {
	p := newPair(t, 24)
	for _, tc := range grnCases {
		t.Run(fmt.Sprintf("N%d_HW%d_C%d", tc.N, tc.HW, tc.C), func(t *testing.T) {
			p.t = t
			s := kernels.GRNShape{N: tc.N, HW: tc.HW, C: tc.C, Eps: 1e-6}
			xs, c, nc := kernels.Shape{tc.N, tc.HW, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.N, tc.C}
			ac, ag := p.in(xs, 2)
			bc, bg := p.in(c, 0.5)
			hc, hg := p.out(xs)
			sc, sg := p.out(nc)
			p.ok(p.cpu.BiasGELUSumSq(hc, sc, ac, bc, s))
			p.ok(p.gpu.BiasGELUSumSq(hg, sg, ag, bg, s))
			p.same("h", hc, hg, grnFwdRtol, grnFwdAtol)
			p.same("sumSq", sc, sg, grnFwdRtol, grnFwdAtol)

			gc, gg := p.in(c, 1)
			bec, beg := p.in(c, 1)
			yc, yg := p.out(xs)
			nc1, ng := p.out(nc)
			p.ok(p.cpu.GRNApply(yc, nc1, hc, sc, gc, bec, s))
			p.ok(p.gpu.GRNApply(yg, ng, hg, sg, gg, beg, s))
			p.same("y", yc, yg, grnFwdRtol, grnFwdAtol)
			p.same("gnorm", nc1, ng, grnFwdRtol, 0)

			hg, ng = p.device(hc), p.device(nc1)
			dyc, dyg := p.in(xs, 1)
			dac, dag := p.out(xs)
			dbc, dbg := p.acc(c)
			dgc, dgg := p.acc(c)
			dbec, debg := p.acc(c)
			p.ok(p.cpu.GRNGELUBackward(dac, dbc, dgc, dbec, dyc, hc, ac, bc, nc1, gc, s))
			p.ok(p.gpu.GRNGELUBackward(dag, dbg, dgg, debg, dyg, hg, ag, bg, ng, gg, s))
			p.same("da", dac, dag, grnBwdRtol, grnBwdAtol)
			p.same("dbias", dbc, dbg, grnBwdRtol, grnBwdAtol)
			p.same("dgamma", dgc, dgg, grnBwdRtol, grnBwdAtol)
			p.same("dbeta", dbec, debg, grnBwdRtol, grnBwdAtol)
		})
	}
}

// TestGRNApplyMatchesGRN checks that GRN from BiasGELUSumSq's sums is
// bit-identical to GRN on the same h on the simulator: the sums are added
// in the same order, and the coefficient and apply kernels are GRN's.
func TestGRNApplyMatchesGRN(t *testing.T) {
	p := newPair(t, 25)
	s := kernels.GRNShape{N: 3, HW: 150, C: 37, Eps: 1e-6}
	xs, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
	_, ag := p.in(xs, 2)
	_, bg := p.in(c, 0.5)
	_, gg := p.in(c, 1)
	_, beg := p.in(c, 1)
	_, hg := p.out(xs)
	_, sg := p.out(nc)
	_, y1 := p.out(xs)
	_, n1 := p.out(nc)
	_, y2 := p.out(xs)
	_, n2 := p.out(nc)
	p.ok(p.gpu.BiasGELUSumSq(hg, sg, ag, bg, s))
	p.ok(p.gpu.GRNApply(y1, n1, hg, sg, gg, beg, s))
	p.ok(p.gpu.GRN(y2, n2, hg, gg, beg, s))
	for _, o := range []struct {
		name string
		a, b kernels.Tensor
	}{{"y", y1, y2}, {"gnorm", n1, n2}} {
		a, b := make([]float32, o.a.Len()), make([]float32, o.b.Len())
		p.ok(p.gpu.Download(a, o.a))
		p.ok(p.gpu.Download(b, o.b))
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: GRNApply %g, GRN %g", o.name, i, a[i], b[i])
			}
		}
	}
}

func TestMLPErrors(t *testing.T) {
	p := newPair(t, 26)
	s := kernels.GRNShape{N: 2, HW: 3, C: 5, Eps: 1e-6}
	xs, c, nc := kernels.Shape{2, 3, 5}, kernels.Shape{5}, kernels.Shape{2, 5}
	xc, x := p.in(xs, 1)
	_, h := p.out(xs)
	_, b := p.in(c, 1)
	_, ss := p.out(nc)
	_, short := p.out(kernels.Shape{4})
	wantErrors(t, []errCase{
		{"C 0", p.gpu.BiasGELUSumSq(h, ss, x, b, kernels.GRNShape{N: 2, HW: 3}), kernels.ErrShape},
		{"short sumSq", p.gpu.BiasGELUSumSq(h, short, x, b, s), kernels.ErrShape},
		{"host a", p.gpu.BiasGELUSumSq(h, ss, xc, b, s), kernels.ErrDType},
		{"apply short sumSq", p.gpu.GRNApply(h, ss, x, short, b, b, s), kernels.ErrShape},
		{"backward missing dbias", p.gpu.GRNGELUBackward(h, kernels.Tensor{}, b, b, x, x, x, b, ss, b, s), kernels.ErrShape},
		{"backward host a", p.gpu.GRNGELUBackward(h, b, b, b, x, x, xc, b, ss, b, s), kernels.ErrDType},
	})
}

// TestBF16MLPFused runs the fused MLP ops on bf16 activations on the
// simulator against the CPU emulation: h, y and da within one bf16 ulp
// (same16), the float32 outputs with GRN's tolerances, except sumSq,
// which sums the squares of the stored h: one ulp of h moves h² by up to
// 2^-7 relative, so with HW = 1 sumSq is compared at rtol 1e-2. GRNApply
// and the backward get the CPU's h, sumSq and gnorm on both sides. The
// odd cases pass no bias, as layers.FusedMLP does in BF16 precision (fc1's
// product adds it), the even ones a float32 bias. C = 320, 24 and 40 take
// the 8-channel kernels (mlp_fwd_v8_bf16, mlp_bwd_v8_bf16,
// grn_bwd_sums_v8_bf16), odd C the scalar ones.
func TestBF16MLPFused(t *testing.T) {
	p := newPair(t, 62)
	for i, tc := range []grnCase{{2, 1, 37, nil, nil}, {2, 35, 3, nil, nil}, {3, 150, 37, nil, nil}, {2, 25, 320, nil, nil},
		{3, 150, 24, nil, nil}, {3, 150, 24, nil, nil}, {2, 1, 40, nil, nil}, {2, 1, 40, nil, nil}} {
		t.Run(fmt.Sprintf("N%d_HW%d_C%d_bias%t", tc.N, tc.HW, tc.C, i%2 == 0), func(t *testing.T) {
			p.t = t
			s := kernels.GRNShape{N: tc.N, HW: tc.HW, C: tc.C, Eps: 1e-6}
			xs, c, nc := kernels.Shape{tc.N, tc.HW, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.N, tc.C}
			ac, ag := p.in16(xs, 2)
			var bc, bg kernels.Tensor
			if i%2 == 0 {
				bc, bg = p.in(c, 0.5)
			}
			hc, hg := p.out16(xs)
			sc, sg := p.out(nc)
			p.ok(p.cpu.BiasGELUSumSq(hc, sc, ac, bc, s))
			p.ok(p.gpu.BiasGELUSumSq(hg, sg, ag, bg, s))
			p.same16("h", hc, hg, grnFwdAtol)
			p.same("sumSq", sc, sg, 1e-2, grnFwdAtol)

			hv := make([]float32, xs.Len())
			p.ok(p.cpu.Download(hv, hc))
			_, hg = p.from16(xs, hv)
			sg = p.device(sc)
			gc, gg := p.in(c, 1)
			bec, beg := p.in(c, 1)
			yc, yg := p.out16(xs)
			nc1, ng := p.out(nc)
			p.ok(p.cpu.GRNApply(yc, nc1, hc, sc, gc, bec, s))
			p.ok(p.gpu.GRNApply(yg, ng, hg, sg, gg, beg, s))
			p.same16("y", yc, yg, grnFwdAtol)
			p.same("gnorm", nc1, ng, grnFwdRtol, 0)

			ng = p.device(nc1)
			dyc, dyg := p.in16(xs, 1)
			dac, dag := p.out16(xs)
			dbc, dbg := p.acc(c)
			dgc, dgg := p.acc(c)
			dbec, debg := p.acc(c)
			p.ok(p.cpu.GRNGELUBackward(dac, dbc, dgc, dbec, dyc, hc, ac, bc, nc1, gc, s))
			p.ok(p.gpu.GRNGELUBackward(dag, dbg, dgg, debg, dyg, hg, ag, bg, ng, gg, s))
			p.same16("da", dac, dag, grnBwdAtol)
			p.same("dbias", dbc, dbg, grnBwdRtol, grnBwdAtol)
			p.same("dgamma", dgc, dgg, grnBwdRtol, grnBwdAtol)
			p.same("dbeta", dbec, debg, grnBwdRtol, grnBwdAtol)
		})
	}
}
