package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// Activation tolerances against the CPU backend, which rounds a float64
// result once: the GPU's expf-based SiLU and Sigmoid are within a few ulp,
// so rtol 1e-5; the atol covers SiLU' near its zero (x ≈ −1.28) and
// results that underflow toward 0 (Sigmoid(−100)).
const actRtol, actAtol = 1e-5, 1e-7

// actInputs returns n values: the kinks and edges 0, −0, ±3, 6, ±1e-3, ±100,
// NaN and ±Inf, then uniform values in [−8, 8).
func actInputs(p *pair, n int) []float32 {
	inf := float32(math.Inf(1))
	v := []float32{0, float32(math.Copysign(0, -1)), 3, -3, 6, 1e-3, -1e-3, 100, -100, float32(math.NaN()), inf, -inf, 2.999999}
	for len(v) < n {
		v = append(v, float32(16*p.rng.Float64()-8))
	}
	return v[:n]
}

// TestActivation runs every kind on the simulator against the CPU, forward
// and backward, on odd sizes, kinks, NaN and infinities included (NaN must
// stay NaN wherever the CPU gives NaN), out of place and in place.
func TestActivation(t *testing.T) {
	p := newPair(t, 31)
	for kind := range kernels.Sigmoid + 1 {
		for _, n := range []int{1, 13, 257, 1000} {
			for _, inPlace := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v_n%d_inplace%v", kind, n, inPlace), func(t *testing.T) {
					p.t = t
					s := kernels.Shape{n}
					xc, xg := p.from(s, actInputs(p, n))
					dyc, dyg := p.in(s, 1)
					dxc, dxg := p.outAlias(s, inPlace, dyg)
					p.ok(p.cpu.ActivationBackward(dxc, dyc, xc, kind))
					p.ok(p.gpu.ActivationBackward(dxg, dyg, xg, kind))
					p.same("dx", dxc, dxg, actRtol, actAtol, testutil.NaNEqual)
					yc, yg := p.outAlias(s, inPlace, xg)
					p.ok(p.cpu.Activation(yc, xc, kind))
					p.ok(p.gpu.Activation(yg, xg, kind))
					p.same("y", yc, yg, actRtol, actAtol, testutil.NaNEqual)
				})
			}
		}
	}
}

func TestActivationErrors(t *testing.T) {
	p := newPair(t, 32)
	s := kernels.Shape{2, 3}
	xc, x := p.in(s, 1)
	_, y := p.out(s)
	_, short := p.out(kernels.Shape{5})
	wantErrors(t, []errCase{
		{"short y", p.gpu.Activation(short, x, kernels.ReLU), kernels.ErrShape},
		{"host x", p.gpu.Activation(y, xc, kernels.SiLU), kernels.ErrDType},
		{"backward short dy", p.gpu.ActivationBackward(y, short, x, kernels.Hardswish), kernels.ErrShape},
		{"backward missing x", p.gpu.ActivationBackward(y, y, kernels.Tensor{}, kernels.Sigmoid), kernels.ErrShape},
	})
	if err := p.gpu.Activation(y, x, kernels.ActivationKind(42)); err == nil {
		t.Error("unknown kind accepted")
	}
}
