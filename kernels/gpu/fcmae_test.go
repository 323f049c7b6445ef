package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// randMask returns a 0/1 patch mask of n values, about half masked, with at
// least one masked value.
func randMask(p *pair, n int) []float32 {
	m := make([]float32, n)
	for i, v := range p.randVals(n, 1) {
		if v > 0 || i == 0 {
			m[i] = 1
		}
	}
	return m
}

// TestMaskFillMatchesCPU runs mask_fill_f32, mask_fill_bwd_f32 and
// mask_fill_dfill_f32 against the CPU reference on odd shapes: patch scales
// 1, 2 and 3, channel counts that are not multiples of 32, with and without
// a fill token, in place and out of place.
func TestMaskFillMatchesCPU(t *testing.T) {
	p := newPair(t, 41)
	for _, s := range []kernels.MaskShape{{N: 1, GH: 1, GW: 1, Scale: 1, C: 1}, {N: 2, GH: 3, GW: 2, Scale: 3, C: 5},
		{N: 3, GH: 2, GW: 5, Scale: 2, C: 37}, {N: 2, GH: 7, GW: 7, Scale: 1, C: 300}} {
		for _, token := range []bool{false, true} {
			name := fmt.Sprintf("mask-fill %+v token=%v", s, token)
			mc, mg := p.from(s.MaskShape(), randMask(p, s.MaskShape().Len()))
			var fc, fg kernels.Tensor
			if token {
				fc, fg = p.in(kernels.Shape{s.C}, 1)
			}
			xc, xg := p.in(s.XShape(), 2)
			yc, yg := p.out(s.XShape())
			p.ok(p.cpu.MaskFill(yc, xc, mc, fc, s))
			p.ok(p.gpu.MaskFill(yg, xg, mg, fg, s))
			p.same(name, yc, yg, 0, 0)
			p.ok(p.cpu.MaskFill(xc, xc, mc, fc, s))
			p.ok(p.gpu.MaskFill(xg, xg, mg, fg, s))
			p.same(name+" in place", xc, xg, 0, 0)

			dyc, dyg := p.in(s.XShape(), 1)
			var dfc, dfg kernels.Tensor
			if token {
				dfc, dfg = p.acc(kernels.Shape{s.C})
			}
			p.ok(p.cpu.MaskFillBackward(dyc, dfc, dyc, mc, s)) // dx aliases dy
			p.ok(p.gpu.MaskFillBackward(dyg, dfg, dyg, mg, s))
			p.same(name+" dx", dyc, dyg, 0, 0)
			if token {
				p.same(name+" dfill", dfc, dfg, 1e-6, 1e-7)
			}
		}
	}
}

// TestPatchLossMatchesCPU runs patch_loss_f32 and patch_loss_bwd_f32 against
// the CPU reference on odd shapes: patch sides 1 to 5, 1 and 3 channels,
// patches of fewer values than a warp and of more than a block, with and
// without norm_pix.
func TestPatchLossMatchesCPU(t *testing.T) {
	p := newPair(t, 42)
	for _, s := range []kernels.PatchLossShape{{N: 2, GH: 3, GW: 2, Patch: 3, C: 1}, {N: 1, GH: 1, GW: 1, Patch: 1, C: 3},
		{N: 3, GH: 2, GW: 3, Patch: 5, C: 3}, {N: 2, GH: 2, GW: 2, Patch: 16, C: 1}, {N: 1, GH: 2, GW: 1, Patch: 11, C: 3}} {
		for _, norm := range []bool{false, true} {
			s.NormPix, s.Eps = norm, 1e-6
			if s.Validate() != nil {
				continue
			}
			name := fmt.Sprintf("patch-loss %+v", s)
			ic, ig := p.in(s.ImageShape(), 2)
			pc, pg := p.in(s.PredShape(), 1)
			lc, lg := p.out(s.LossShape())
			tc, tg := p.out(s.PredShape())
			p.ok(p.cpu.PatchLoss(lc, tc, pc, ic, s))
			p.ok(p.gpu.PatchLoss(lg, tg, pg, ig, s))
			p.same(name+" target", tc, tg, 1e-6, 1e-6)
			p.same(name+" loss", lc, lg, 1e-6, 1e-7)
			mc, mg := p.from(s.LossShape(), randMask(p, s.LossShape().Len()))
			dc, dg := p.out(s.PredShape())
			p.ok(p.cpu.PatchLossBackward(dc, pc, tc, mc, 0.25, s))
			p.ok(p.gpu.PatchLossBackward(dg, pg, tg, mg, 0.25, s))
			p.same(name+" dpred", dc, dg, 1e-6, 1e-9)
		}
	}
}

// TestMaskOpsShapeErrors checks that the launchers refuse mis-sized tensors
// before launching.
func TestMaskOpsShapeErrors(t *testing.T) {
	p := newPair(t, 43)
	s := kernels.MaskShape{N: 1, GH: 2, GW: 2, Scale: 2, C: 3}
	_, x := p.in(s.XShape(), 1)
	_, m := p.in(kernels.Shape{1, 2, 3}, 1)
	_, f := p.in(kernels.Shape{4}, 1)
	_, good := p.in(s.MaskShape(), 1)
	wantErrors(t, []errCase{
		{"mask of the wrong grid", p.gpu.MaskFill(x, x, m, kernels.Tensor{}, s), kernels.ErrShape},
		{"fill of the wrong width", p.gpu.MaskFill(x, x, good, f, s), kernels.ErrShape},
		{"zero channels", p.gpu.MaskFill(x, x, good, kernels.Tensor{}, kernels.MaskShape{N: 1, GH: 2, GW: 2, Scale: 2}), kernels.ErrShape},
		{"norm_pix on one value", p.gpu.PatchLoss(x, x, x, x, kernels.PatchLossShape{N: 1, GH: 1, GW: 1, Patch: 1, C: 1, NormPix: true}), kernels.ErrShape},
	})
}
