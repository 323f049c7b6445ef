package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// grnCase is one GRN test shape; zero lists samples whose input is all
// zeros (their norms are 0, so the gradient through the norm must be 0),
// zeroC channels that are zero in every sample.
type grnCase struct {
	N, HW, C    int
	zero, zeroC []int
}

// grnCases covers HW = 1 (g = |x|), 5×7, more than one HW chunk (150 rows
// = 3 chunks of 64), odd C (3, 37, 161), ConvNeXt V2-Atto's 4C widths at
// their late-stage resolutions (160, 320, 640 and 1280 channels over
// 5×7 down to 3×3), and all-zero samples.
var grnCases = []grnCase{
	{2, 1, 161, nil, nil}, {2, 35, 37, nil, nil}, {2, 35, 3, nil, nil}, {2, 35, 160, []int{1}, []int{0, 7}},
	{3, 150, 37, []int{0}, nil}, {2, 1, 37, []int{1}, []int{36}}, {2, 25, 320, nil, nil}, {2, 49, 640, nil, nil},
	{2, 9, 1280, nil, nil},
}

// GRN tolerances against the CPU backend (float64 sums): forward rtol 1e-5
// with an atol for outputs near 0, gradients rtol 1e-4.
const (
	grnFwdRtol, grnFwdAtol = 1e-5, 1e-6
	grnBwdRtol, grnBwdAtol = 1e-4, 1e-5
)

// grnCheckPair runs GRN and GRNBackward on both backends and compares y,
// gnorm, dx, dgamma and dbeta (the parameter gradients accumulate into
// non-zero values). The backward gets the CPU's gnorm on both sides. With
// alias the GPU runs y = x and dx = dy in place.
func grnCheckPair(p *pair, tc grnCase, alias bool) {
	p.t.Helper()
	s := kernels.GRNShape{N: tc.N, HW: tc.HW, C: tc.C, Eps: 1e-6}
	xs, c, nc := kernels.Shape{tc.N, tc.HW, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.N, tc.C}
	xv := p.randVals(xs.Len(), 1)
	for _, n := range tc.zero {
		clear(xv[n*tc.HW*tc.C : (n+1)*tc.HW*tc.C])
	}
	for _, ch := range tc.zeroC {
		for r := 0; r < tc.N*tc.HW; r++ {
			xv[r*tc.C+ch] = 0
		}
	}
	xc, xg := p.from(xs, xv)
	gc, gg := p.in(c, 1)
	bc, bg := p.in(c, 1)
	yc, yg := p.outAlias(xs, alias, xg)
	nc1, ng := p.out(nc)
	p.ok(p.cpu.GRN(yc, nc1, xc, gc, bc, s))
	p.ok(p.gpu.GRN(yg, ng, xg, gg, bg, s))
	p.same("y", yc, yg, grnFwdRtol, grnFwdAtol)
	p.same("gnorm", nc1, ng, grnFwdRtol, 0)

	if alias {
		_, xg = p.from(xs, xv)
	}
	ng = p.device(nc1)
	dyc, dyg := p.in(xs, 1)
	dxc, dxg := p.outAlias(xs, alias, dyg)
	dgc, dgg := p.acc(c)
	dbc, dbg := p.acc(c)
	p.ok(p.cpu.GRNBackward(dxc, dgc, dbc, dyc, xc, nc1, gc, s))
	p.ok(p.gpu.GRNBackward(dxg, dgg, dbg, dyg, xg, ng, gg, s))
	p.same("dx", dxc, dxg, grnBwdRtol, grnBwdAtol)
	p.same("dgamma", dgc, dgg, grnBwdRtol, grnBwdAtol)
	p.same("dbeta", dbc, dbg, grnBwdRtol, grnBwdAtol)

	// An all-zero sample passes the gradient straight through: dx = dy.
	got := make([]float32, xs.Len())
	p.ok(p.gpu.Download(got, dxg))
	for _, n := range tc.zero {
		lo, hi := n*tc.HW*tc.C, (n+1)*tc.HW*tc.C
		for i, want := range dyc.Host32()[lo:hi] {
			if got[lo+i] != want {
				p.t.Errorf("all-zero sample %d: dx[%d] = %g, want dy = %g", n, lo+i, got[lo+i], want)
				break
			}
		}
	}
}

func TestGRN(t *testing.T) {
	p := newPair(t, 21)
	for _, tc := range grnCases {
		t.Run(fmt.Sprintf("N%d_HW%d_C%d_zero%v_zeroC%v", tc.N, tc.HW, tc.C, tc.zero, tc.zeroC), func(t *testing.T) {
			p.t = t
			grnCheckPair(p, tc, false)
		})
	}
}

func TestGRNInPlace(t *testing.T) {
	p := newPair(t, 22)
	grnCheckPair(p, grnCase{2, 35, 37, []int{0}, nil}, true)
}

func TestGRNErrors(t *testing.T) {
	p := newPair(t, 23)
	s := kernels.GRNShape{N: 2, HW: 3, C: 5, Eps: 1e-6}
	xs, c, nc := kernels.Shape{2, 3, 5}, kernels.Shape{5}, kernels.Shape{2, 5}
	xc, x := p.in(xs, 1)
	_, y := p.out(xs)
	_, g := p.in(c, 1)
	_, b := p.in(c, 1)
	_, n := p.out(nc)
	_, short := p.out(kernels.Shape{4})
	wantErrors(t, []errCase{
		{"C 0", p.gpu.GRN(y, n, x, g, b, kernels.GRNShape{N: 2, HW: 3}), kernels.ErrShape},
		{"negative eps", p.gpu.GRN(y, n, x, g, b, kernels.GRNShape{N: 2, HW: 3, C: 5, Eps: -1}), kernels.ErrShape},
		{"N over the grid limit", p.gpu.GRN(y, n, x, g, b, kernels.GRNShape{N: 70000, HW: 1, C: 1}), kernels.ErrShape},
		{"short gnorm", p.gpu.GRN(y, short, x, g, b, s), kernels.ErrShape},
		{"missing beta", p.gpu.GRN(y, n, x, g, kernels.Tensor{}, s), kernels.ErrShape},
		{"host x", p.gpu.GRN(y, n, xc, g, b, s), kernels.ErrDType},
		{"backward short gamma", p.gpu.GRNBackward(y, g, b, y, x, n, short, s), kernels.ErrShape},
		{"backward host dy", p.gpu.GRNBackward(y, g, b, xc, x, n, g, s), kernels.ErrDType},
		{"backward HW 0", p.gpu.GRNBackward(y, g, b, y, x, n, g, kernels.GRNShape{N: 2, C: 5}), kernels.ErrShape},
	})
}
