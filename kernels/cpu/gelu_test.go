package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// normTailAt evaluates normTail at one point.
func normTailAt(x float64) (tail, gauss float64) {
	var tb, gb [1]float64
	normTail([]float64{x}, tb[:], gb[:])
	return tb[0], gb[0]
}

func TestNormTail(t *testing.T) {
	// Dense grid over z = |x|/√2 in [0, 26], the whole range where erfc is
	// above float64's underflow (normTail clamps at 26): relative error of
	// erfc = 2·tail against math.Erfc, of erf = 1 − erfc against math.Erf
	// (from z = 0.25; below, the subtraction cancels, and GELU never
	// forms it), and of e^(−z²).
	const n = 2_600_000
	xs := make([]float64, normBlock)
	tail, gauss := make([]float64, normBlock), make([]float64, normBlock)
	var worst, worstErf, worstGauss float64
	for lo := 0; lo <= n; lo += normBlock {
		m := min(normBlock, n+1-lo)
		for i := range m {
			z := float64(lo+i) * 1e-5
			xs[i] = -z * math.Sqrt2
			if i%2 == 1 {
				xs[i] = -xs[i] // the tail depends on |x| only
			}
		}
		normTail(xs[:m], tail[:m], gauss[:m])
		for i := range m {
			z := float64(lo+i) * 1e-5
			erfc := 2 * tail[i]
			want := math.Erfc(z)
			worst = max(worst, math.Abs(erfc-want)/want)
			wg := math.Exp(-z * z)
			worstGauss = max(worstGauss, math.Abs(gauss[i]-wg)/wg)
			if z >= 0.25 {
				worstErf = max(worstErf, math.Abs((1-erfc)-math.Erf(z))/math.Erf(z))
			}
		}
	}
	t.Logf("normTail max relative error: erfc %.3g, erf %.3g, exp(-z²) %.3g", worst, worstErf, worstGauss)
	if worst > 1e-8 || worstErf > 2e-8 || worstGauss > 1e-9 {
		t.Errorf("normTail relative error erfc %.3g, erf %.3g, gauss %.3g; documented bounds 1e-8, 2e-8, 1e-9", worst, worstErf, worstGauss)
	}
	// Beyond the clamp the values underflow float32 and stay finite.
	for _, x := range []float64{40, -1e10, math.Inf(-1), math.MaxFloat64} {
		if tl, g := normTailAt(x); !(tl >= 0 && tl < 1e-290 && g >= 0 && g < 1e-290) {
			t.Errorf("normTail(%g) = %g, %g; want tiny non-negative values", x, tl, g)
		}
	}
}

func TestExpTable(t *testing.T) {
	for j, bits := range exp2Frac {
		if want := math.Exp2(float64(j) / 32); math.Abs(math.Float64frombits(bits)-want) > 0x1p-52*want {
			t.Errorf("exp2Frac[%d] = %v, want 2^(%d/32) = %v", j, math.Float64frombits(bits), j, want)
		}
	}
	var worst float64
	for i := -7_080_000; i <= 7_080_000; i++ {
		y := float64(i) * 1e-4
		worst = max(worst, math.Abs(expTable(y)-math.Exp(y))/math.Exp(y))
	}
	t.Logf("expTable max relative error %.3g", worst)
	if worst > 6e-10 {
		t.Errorf("expTable max relative error %.3g, documented 6e-10", worst)
	}
}

func TestErfRational(t *testing.T) {
	// erf recovered from the float64 evaluation of the fast forward,
	// erf(z) = 2·GELU(x)/x − 1 with x = z·√2, against math.Erf on a dense
	// grid over z in [−6, 6].
	const n = 1_200_000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		z := -6 + float64(i)*1e-5 + 0.5e-5 // skips z = 0, where 2y/x is 0/0
		x[i] = z * math.Sqrt2
	}
	geluErfFast(y, x)
	var worst float64
	for i, v := range x {
		want := math.Erf(v / math.Sqrt2)
		worst = max(worst, math.Abs((2*y[i]/v-1)-want)/math.Abs(want))
	}
	t.Logf("erf rational max relative error %.3g", worst)
	if worst > 5e-9 {
		t.Errorf("erf rational relative error %.3g, documented 4.4e-9", worst)
	}
}

func TestGELUFastDense(t *testing.T) {
	// The float32 backend's GELU and its derivative, evaluated on float64
	// inputs by the pure-Go path (the assembly kernels take float32 only;
	// TestGELUFloat32Dense checks them), against the float64 formulas on a
	// dense grid from −13 (Φ ≈ 1e-38) to 8: the forward's absolute error
	// relative to |x| and its relative error for x >= −2 (the
	// exponential-free forward loses relative precision in the far
	// negative tail); the derivative's relative error everywhere.
	const n = 2_100_001
	x := make([]float64, n)
	for i := range x {
		x[i] = -13 + float64(i)*1e-5
	}
	y, d := make([]float64, n), make([]float64, n)
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	for _, im := range geluImpls[float64]() {
		im.fwd(y, x, kernels.GELUErf, true)
		im.bwd(d, ones, x, kernels.GELUErf, true)
		var worstAbs, worstPos, worstRel, worstD float64
		for i, v := range x {
			wy := v * 0.5 * math.Erfc(-v*sqrt1_2)
			wd := 0.5*math.Erfc(-v*sqrt1_2) + v*math.Exp(-0.5*v*v)*invSqrt2Pi
			worstAbs = max(worstAbs, math.Abs(y[i]-wy)/max(math.Abs(v), 1e-300))
			if v > 0 {
				worstPos = max(worstPos, math.Abs(y[i]-wy)/math.Abs(wy))
			} else if v >= -2 && wy != 0 {
				worstRel = max(worstRel, math.Abs(y[i]-wy)/math.Abs(wy))
			}
			// GELU' = Φ + x·φ has a root near x = −0.75, so its error is
			// measured relative to the size of its terms, |Φ| + |x·φ|.
			scale := 0.5*math.Erfc(-v*sqrt1_2) + math.Abs(v*math.Exp(-0.5*v*v)*invSqrt2Pi)
			worstD = max(worstD, math.Abs(d[i]-wd)/scale)
		}
		t.Logf("%s: fast GELU max |error|/|x| %.3g, relative error for x > 0 %.3g, for x in [-2, 0] %.3g; derivative %.3g",
			im.name, worstAbs, worstPos, worstRel, worstD)
		if worstAbs > 3e-9 || worstPos > 5e-9 || worstRel > 1e-7 || worstD > 1.2e-8 {
			t.Errorf("%s: fast GELU |error|/|x| %.3g (want < 3e-9), relative %.3g for x > 0 (< 5e-9), %.3g for x in [-2, 0] (< 1e-7), derivative %.3g (< 1.2e-8)",
				im.name, worstAbs, worstPos, worstRel, worstD)
		}
	}
}

func TestGELUHandValues(t *testing.T) {
	x := []float64{1, -1, 2, -3, 0.5, 0, -8, -12}
	// x·Φ(x) and 0.5·x·(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³),
	// from mpmath at 30 digits. (PyTorch's float64 gelu returns −4.88e-15,
	// −0 for erf at −8, −12 and −0 for tanh at −8: 1 + erf and 1 + tanh
	// cancel there, which our erfc and sigmoid forms avoid.)
	wantErf := []float64{0.8413447460685429, -0.15865525393145705, 1.9544997361036416, -0.0040496940948902836,
		0.34573123063700655, 0, -4.9767684594174273e-15, -2.1317785344932148e-32}
	wantTanh := []float64{0.8411919906082767, -0.1588080093917233, 1.954597694087775, -0.0036373920817730188,
		0.34571400982514392, 0, -3.1077829375011112e-21, -1.6359854493534811e-61}
	// GELU'(x) = Φ(x) + x·φ(x) (mpmath).
	wantGrad := []float64{1.0833154705876863, -0.083315470587686298, 1.0852318010781969, -0.011945647204183927,
		0.86749512465616284, 0.5, -3.979607261086796e-14, -2.5578956616748956e-31}
	for _, b := range backends() {
		rtol, atol, atolErf := 1e-13, 0.0, 0.0
		if b.DType() == kernels.Float32 {
			rtol, atol = 1.2e-7, 1e-45 // float32 flushes −1.6e-61 to −0
			atolErf = 3e-9 * 12        // the forward's 3e-9·|x| in the tail
		}
		xs := newT(t, b, kernels.Shape{len(x)}, x)
		y := newT(t, b, kernels.Shape{len(x)}, nil)
		must(t, b.GELU(y, xs, kernels.GELUErf))
		testutil.AllClose(t, b.Name()+" gelu erf", vals(y), wantErf, rtol, atolErf)
		must(t, b.GELU(y, xs, kernels.GELUTanh))
		testutil.AllClose(t, b.Name()+" gelu tanh", vals(y), wantTanh, rtol, atol)
		ones := newT(t, b, kernels.Shape{len(x)}, []float64{1, 1, 1, 1, 1, 1, 1, 1})
		must(t, b.GELUBackward(y, ones, xs, kernels.GELUErf))
		testutil.AllClose(t, b.Name()+" gelu erf derivative", vals(y), wantGrad, rtol, 0)
	}
}

func TestGELUGradient(t *testing.T) {
	b := New64()
	n := 2 * 35 * 3
	xv := randVals(1, n, 4)
	xv[0], xv[1] = 0, -7.5
	for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		x, y := newT(t, b, kernels.Shape{2, 35, 3}, xv), newT(t, b, kernels.Shape{2, 35, 3}, nil)
		r := randVals(2, n, 1)
		loss := func() float64 {
			must(t, b.GELU(y, x, a))
			return dot(vals(y), r)
		}
		dy, dx := newT(t, b, kernels.Shape{2, 35, 3}, r), newT(t, b, kernels.Shape{2, 35, 3}, nil)
		must(t, b.GELUBackward(dx, dy, x, a))
		checkGrad(t, "gelu "+a.String()+" dx", x, vals(dx), loss)
		// dx may alias dy.
		must(t, b.GELUBackward(dy, dy, x, a))
		testutil.AllClose(t, "gelu backward in place", vals(dy), vals(dx), 0, 0)
	}
}

func TestGELUFloat32MatchesFloat64(t *testing.T) {
	const n = 10000
	for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		// atol: the float32 forward's absolute error 3e-9·|x| for |x| <= 9.
		agree(t, "gelu "+a.String()+" f32 vs f64", 1e-5, 3e-8, func(b *Backend) ([]kernels.Tensor, func() error) {
			x, y := newT(t, b, kernels.Shape{n}, randVals(3, n, 9)), newT(t, b, kernels.Shape{n}, nil)
			return []kernels.Tensor{y}, func() error { return b.GELU(y, x, a) }
		})
		agree(t, "gelu backward "+a.String()+" f32 vs f64", 1e-5, 1e-30, func(b *Backend) ([]kernels.Tensor, func() error) {
			x, dy := newT(t, b, kernels.Shape{n}, randVals(4, n, 9)), newT(t, b, kernels.Shape{n}, randVals(5, n, 1))
			dx := newT(t, b, kernels.Shape{n}, nil)
			return []kernels.Tensor{dx}, func() error { return b.GELUBackward(dx, dy, x, a) }
		})
	}
}

func TestGELUInPlaceAndErrors(t *testing.T) {
	b := New()
	x := newT(t, b, kernels.Shape{4, 5}, randVals(6, 20, 3))
	y := newT(t, b, kernels.Shape{4, 5}, nil)
	must(t, b.GELU(y, x, kernels.GELUErf))
	must(t, b.GELU(x, x, kernels.GELUErf))
	testutil.AllClose(t, "gelu in place", vals(x), vals(y), 0, 0)

	wantErr(t, "short y", b.GELU(newT(t, b, kernels.Shape{19}, nil), x, kernels.GELUErf), kernels.ErrShape, "cpu gelu", "y", "[19]", "[4 5]")
	wantErr(t, "nil x", b.GELU(y, kernels.Tensor{}, kernels.GELUErf), kernels.ErrShape, "x is missing")
	wantErr(t, "float64 dy", b.GELUBackward(y, newT(t, New64(), kernels.Shape{4, 5}, nil), x, kernels.GELUTanh), kernels.ErrDType, "gelu backward", "dy")
	if err := b.GELU(y, x, kernels.GELUApprox(7)); err == nil {
		t.Error("unknown GELU approximation accepted")
	}
	if err := b.GELUBackward(y, y, x, kernels.GELUApprox(2)); err == nil {
		t.Error("unknown GELU approximation accepted by the backward")
	}
}

func TestGELUNonFinite(t *testing.T) {
	// NaN propagates and nothing panics; +Inf maps to +Inf (GELU(x) → x).
	for _, b := range backends() {
		for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
			x := newT(t, b, kernels.Shape{3}, []float64{math.NaN(), math.Inf(1), 1e30})
			y, d := newT(t, b, kernels.Shape{3}, nil), newT(t, b, kernels.Shape{3}, nil)
			must(t, b.GELU(y, x, a))
			must(t, b.GELUBackward(d, newT(t, b, kernels.Shape{3}, []float64{1, 1, 1}), x, a))
			yv, dv := vals(y), vals(d)
			if !math.IsNaN(yv[0]) || !math.IsNaN(dv[0]) {
				t.Errorf("%s %v: GELU(NaN) = %v, GELU'(NaN) = %v, want NaN", b.Name(), a, yv[0], dv[0])
			}
			if !math.IsInf(yv[1], 1) || yv[2] != vals(x)[2] {
				t.Errorf("%s %v: GELU(+Inf), GELU(1e30) = %v, %v", b.Name(), a, yv[1], yv[2])
			}
			if dv[2] != 1 {
				t.Errorf("%s %v: GELU'(1e30) = %v, want 1", b.Name(), a, dv[2])
			}
		}
	}
}
