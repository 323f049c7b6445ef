package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// GELU tolerances against the CPU backend. The forward gets rtol 1e-5 and
// an atol of 5e-8: the CPU's float32 erf path has an absolute error below
// 3e-9·|x| (kernels/cpu/gelu.go), which is all of GELU(x) where x·Φ(x) is
// tiny (x < −5), while the GPU's erfc form keeps relative precision there.
// The backward gets rtol 1e-4 and an atol of 1e-6 for values near the zero
// of GELU' (x ≈ −0.75).
const (
	geluFwdRtol, geluFwdAtol = 1e-5, 5e-8
	geluBwdRtol, geluBwdAtol = 1e-4, 1e-6
)

// geluInputs returns n values: the edge values ±8, ±5, ±3, ±1, ±1e-3, 0,
// −0 and −0.7517916 (near GELU'(x) = 0), then uniform values in [−6, 6).
func geluInputs(p *pair, n int) []float32 {
	v := []float32{8, -8, 5, -5, 3, -3, 1, -1, 1e-3, -1e-3, 0, float32(math.Copysign(0, -1)), -0.7517916}
	for len(v) < n {
		v = append(v, float32(12*p.rng.Float64()-6))
	}
	return v[:n]
}

func TestGELU(t *testing.T) {
	p := newPair(t, 11)
	for _, approx := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		for _, n := range []int{13, 257, 1000} {
			t.Run(fmt.Sprintf("%v_n%d", approx, n), func(t *testing.T) {
				p.t = t
				s := kernels.Shape{n}
				xv := geluInputs(p, n)
				xc, xg := p.from(s, xv)
				yc, yg := p.out(s)
				p.ok(p.cpu.GELU(yc, xc, approx))
				p.ok(p.gpu.GELU(yg, xg, approx))
				p.same("y", yc, yg, geluFwdRtol, geluFwdAtol)

				dyc, dyg := p.in(s, 1)
				dxc, dxg := p.out(s)
				p.ok(p.cpu.GELUBackward(dxc, dyc, xc, approx))
				p.ok(p.gpu.GELUBackward(dxg, dyg, xg, approx))
				p.same("dx", dxc, dxg, geluBwdRtol, geluBwdAtol)
			})
		}
	}
}

// TestGELUTail checks the negative tail against float64 values of
// x·Φ(x) directly: the GPU's erfc form must be relatively accurate where
// 1 + erf(x/√2) cancels (the CPU's float32 path is not, so the comparison
// with it needs an atol).
func TestGELUTail(t *testing.T) {
	p := newPair(t, 12)
	xv := []float32{-2, -3, -4, -5, -6, -7, -8, -9, -10}
	s := kernels.Shape{len(xv)}
	_, xg := p.from(s, xv)
	_, yg := p.out(s)
	p.ok(p.gpu.GELU(yg, xg, kernels.GELUErf))
	got := make([]float32, len(xv))
	p.ok(p.gpu.Download(got, yg))
	for i, x := range xv {
		f := float64(x)
		want := f * 0.5 * math.Erfc(-f/math.Sqrt2)
		if rel := math.Abs(float64(got[i])-want) / math.Abs(want); !(rel < 1e-5) {
			t.Errorf("GELU(%g) = %g, want %g (relative error %.2g)", x, got[i], want, rel)
		}
	}
}

func TestGELUInPlace(t *testing.T) {
	p := newPair(t, 13)
	for _, approx := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		s := kernels.Shape{3, 7, 11}
		xv := geluInputs(p, s.Len())
		xc, xg := p.from(s, xv)
		yc, _ := p.out(s)
		p.ok(p.cpu.GELU(yc, xc, approx))
		p.ok(p.gpu.GELU(xg, xg, approx)) // y = x
		p.same(approx.String()+" y=x", yc, xg, geluFwdRtol, geluFwdAtol)

		_, xg = p.from(s, xv)
		dyc, dyg := p.in(s, 1)
		dxc, _ := p.out(s)
		p.ok(p.cpu.GELUBackward(dxc, dyc, xc, approx))
		p.ok(p.gpu.GELUBackward(dyg, dyg, xg, approx)) // dx = dy
		p.same(approx.String()+" dx=dy", dxc, dyg, geluBwdRtol, geluBwdAtol)

		dxc2, _ := p.out(s)
		p.ok(p.cpu.GELUBackward(dxc2, dyc, xc, approx))
		dyg = p.device(dyc)
		p.ok(p.gpu.GELUBackward(xg, dyg, xg, approx)) // dx = x
		p.same(approx.String()+" dx=x", dxc2, xg, geluBwdRtol, geluBwdAtol)
	}
}

func TestGELUErrors(t *testing.T) {
	p := newPair(t, 14)
	s := kernels.Shape{2, 5}
	xc, x := p.in(s, 1)
	_, y := p.out(s)
	_, short := p.out(kernels.Shape{9})
	wantErrors(t, []errCase{
		{"short y", p.gpu.GELU(short, x, kernels.GELUErf), kernels.ErrShape},
		{"missing x", p.gpu.GELU(y, kernels.Tensor{}, kernels.GELUErf), kernels.ErrShape},
		{"host x", p.gpu.GELU(y, xc, kernels.GELUTanh), kernels.ErrDType},
		{"backward short dy", p.gpu.GELUBackward(y, short, x, kernels.GELUErf), kernels.ErrShape},
		{"backward host dx", p.gpu.GELUBackward(xc, y, x, kernels.GELUErf), kernels.ErrDType},
	})
	if err := p.gpu.GELU(y, x, kernels.GELUApprox(2)); err == nil {
		t.Error("GELU accepted approx 2")
	}
	if err := p.gpu.GELUBackward(y, y, x, kernels.GELUApprox(9)); err == nil {
		t.Error("GELUBackward accepted approx 9")
	}
}
