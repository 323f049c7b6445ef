package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// BatchNorm tolerances against the CPU backend, whose statistics are
// float64: the GPU's float32 chunk sums over up to 66,000 rows, and the
// dx and dw that cancel sums of both signs, need rtol 1e-4 with an atol of
// 1e-5 of the O(1) values.
const bnRtol, bnAtol = 1e-4, 1e-5

// bnCases are odd shapes: one row (evaluation only), two rows, odd C
// narrower and wider than a warp, a row count just past one chunk, and
// one past 64·1,024 rows, where a chunk grows beyond 64 rows.
var bnCases = []struct{ rows, c int }{{1, 3}, {2, 5}, {15, 33}, {65, 17}, {300, 1}, {66000, 3}}

// TestBatchNorm runs the forward (training: y, mean, rstd and the running
// estimates; evaluation: y, mean, rstd) and the backward of both modes on
// the simulator against the CPU, out of place and in place. The inputs
// have a common offset of 3 per channel, so the two-pass variance matters.
// The backward gets the CPU forward's statistics.
func TestBatchNorm(t *testing.T) {
	p := newPair(t, 41)
	for _, tc := range bnCases {
		for _, training := range []bool{true, false} {
			if training && tc.rows < 2 || !training && tc.rows > 1000 {
				continue // training needs two rows; the long case's chunking is the same in evaluation
			}
			t.Run(fmt.Sprintf("rows%d_c%d_training%v", tc.rows, tc.c, training), func(t *testing.T) {
				p.t = t
				s := kernels.BatchNormShape{Rows: tc.rows, C: tc.c, Eps: 1e-5, Momentum: 0.1, Training: training}
				xs, cs := kernels.Shape{tc.rows, tc.c}, kernels.Shape{tc.c}
				xv := p.randVals(xs.Len(), 1)
				for i := range xv {
					xv[i] += 3
				}
				xc, xg := p.from(xs, xv)
				wc, wg := p.in(cs, 1)
				bc, bg := p.in(cs, 1)
				rmc, rmg := p.in(cs, 1)
				rvv := p.randVals(tc.c, 1)
				for i := range rvv {
					rvv[i] = 0.5 + rvv[i]*rvv[i]
				}
				rvc, rvg := p.from(cs, rvv)
				yc, yg := p.out(xs)
				mc, mg := p.out(cs)
				rc, rg := p.out(cs)
				p.ok(p.cpu.BatchNorm(yc, mc, rc, xc, wc, bc, rmc, rvc, s))
				p.ok(p.gpu.BatchNorm(yg, mg, rg, xg, wg, bg, rmg, rvg, s))
				p.same("y", yc, yg, bnRtol, bnAtol)
				p.same("mean", mc, mg, bnRtol, bnAtol)
				p.same("rstd", rc, rg, bnRtol, bnAtol)
				p.same("running_mean", rmc, rmg, bnRtol, bnAtol)
				p.same("running_var", rvc, rvg, bnRtol, bnAtol)

				for _, inPlace := range []bool{false, true} {
					dyc, dyg := p.in(xs, 1)
					dwc, dwg := p.acc(cs)
					dbc, dbg := p.acc(cs)
					dxc, dxg := p.outAlias(xs, inPlace, dyg)
					p.ok(p.cpu.BatchNormBackward(dxc, dwc, dbc, dyc, xc, mc, rc, wc, s))
					p.ok(p.gpu.BatchNormBackward(dxg, dwg, dbg, dyg, xg, p.device(mc), p.device(rc), wg, s))
					p.same("dx", dxc, dxg, bnRtol, bnAtol)
					p.same("dw", dwc, dwg, bnRtol, bnAtol)
					p.same("db", dbc, dbg, bnRtol, bnAtol)
				}

				// y may alias x.
				p.ok(p.gpu.BatchNorm(xg, mg, rg, xg, wg, bg, rmg, rvg, s))
				p.same("y in place", yc, xg, bnRtol, bnAtol)
			})
		}
	}
}

// TestBatchNormNaN checks that a NaN in channel 0 gives NaN where the CPU
// gives NaN (the whole channel in training, one element in evaluation) and
// finite values elsewhere.
func TestBatchNormNaN(t *testing.T) {
	p := newPair(t, 42)
	for _, training := range []bool{false, true} {
		s := kernels.BatchNormShape{Rows: 4, C: 3, Eps: 1e-5, Momentum: 0.1, Training: training}
		xs, cs := kernels.Shape{4, 3}, kernels.Shape{3}
		xv := p.randVals(12, 1)
		xv[3] = float32(math.NaN())
		xc, xg := p.from(xs, xv)
		wc, wg := p.in(cs, 1)
		bc, bg := p.in(cs, 1)
		rmc, rmg := p.in(cs, 1)
		rvc, rvg := p.from(cs, []float32{1, 2, 3})
		yc, yg := p.out(xs)
		mc, mg := p.out(cs)
		rc, rg := p.out(cs)
		p.ok(p.cpu.BatchNorm(yc, mc, rc, xc, wc, bc, rmc, rvc, s))
		p.ok(p.gpu.BatchNorm(yg, mg, rg, xg, wg, bg, rmg, rvg, s))
		p.same(fmt.Sprintf("y training=%v", training), yc, yg, bnRtol, bnAtol, testutil.NaNEqual)
	}
}

func TestBatchNormErrors(t *testing.T) {
	p := newPair(t, 43)
	s := kernels.BatchNormShape{Rows: 4, C: 3, Eps: 1e-5, Momentum: 0.1, Training: true}
	xs, cs := kernels.Shape{4, 3}, kernels.Shape{3}
	xc, x := p.in(xs, 1)
	_, y := p.out(xs)
	_, c := p.in(cs, 1)
	_, short := p.out(kernels.Shape{2})
	one := s
	one.Rows = 1
	wantErrors(t, []errCase{
		{"training on one row", p.gpu.BatchNorm(y, c, c, x, c, c, c, c, one), kernels.ErrShape},
		{"momentum 2", p.gpu.BatchNorm(y, c, c, x, c, c, c, c, kernels.BatchNormShape{Rows: 4, C: 3, Momentum: 2}), kernels.ErrShape},
		{"short running var", p.gpu.BatchNorm(y, c, c, x, c, c, c, short, s), kernels.ErrShape},
		{"host x", p.gpu.BatchNorm(y, c, c, xc, c, c, c, c, s), kernels.ErrDType},
		{"backward short db", p.gpu.BatchNormBackward(y, c, short, y, x, c, c, c, s), kernels.ErrShape},
		{"backward host dy", p.gpu.BatchNormBackward(y, c, c, xc, x, c, c, c, s), kernels.ErrDType},
	})
}
