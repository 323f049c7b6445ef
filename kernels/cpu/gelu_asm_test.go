package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// geluImpl is one implementation of the float32 backend's GELU slices.
type geluImpl[T Float] struct {
	name string
	fwd  func(y, x []T, approx kernels.GELUApprox, fast bool)
	bwd  func(dx, dy, x []T, approx kernels.GELUApprox, fast bool)
}

// geluImpls returns the pure-Go implementation and, for float32 data where
// the build and CPU have it, the assembly one (geluSlice dispatches to it).
func geluImpls[T Float]() []geluImpl[T] {
	impls := []geluImpl[T]{{"go", geluSliceGo[T], geluGradSliceGo[T]}}
	if hasGELUAsm && isFloat32[T]() {
		impls = append(impls, geluImpl[T]{"asm", geluSlice[T], geluGradSlice[T]})
	}
	return impls
}

var geluApproxes = []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh}

// geluRef returns GELU(x) and GELU'(x) in float64 with the math package:
// x·Φ(x) with Φ from math.Erfc, or x·σ(2u) with σ from math.Exp, and the
// size of the derivative's terms (|Φ| + |x·φ|, or |σ| + |x·σ·(1−σ)·(2u)'|),
// which the derivative's error is measured against near its root.
func geluRef(x float64, a kernels.GELUApprox) (y, d, dScale float64) {
	if a == kernels.GELUTanh {
		u2 := 2 * sqrt2OverPi * (x + geluTanhA*x*x*x)
		s := 1 / (1 + math.Exp(-u2))
		t := x * s * (1 - s) * 2 * sqrt2OverPi * (1 + 3*geluTanhA*x*x)
		return x * s, s + t, s + math.Abs(t)
	}
	cdf := 0.5 * math.Erfc(-x*sqrt1_2)
	t := x * math.Exp(-0.5*x*x) * invSqrt2Pi
	return x * cdf, cdf + t, cdf + math.Abs(t)
}

// geluTol returns the documented error bounds of the float32 backend's
// approximation before rounding: the forward's absolute error for x (erf:
// 3e-9·|x|; tanh: 1e-9 relative, from the exponential) and the
// derivative's error relative to dScale.
func geluTol(x, y float64, a kernels.GELUApprox) (fwd, bwdRel float64) {
	if a == kernels.GELUTanh {
		return 1e-9 * math.Abs(y), 2e-9
	}
	return 3e-9 * math.Abs(x), 1.2e-8
}

// ulp32 returns the spacing of float32 values at v.
func ulp32(v float64) float64 {
	f := float32(math.Abs(v))
	if math.IsInf(float64(f), 0) {
		return math.Inf(1)
	}
	return float64(math.Nextafter32(f, float32(math.Inf(1))) - f)
}

// geluGrid32 returns float32 inputs: every multiple of 2^-12 in [−14, 9]
// (Φ(−14) ≈ 8e-45 is below float32's smallest subnormal) and special
// values from subnormals to ±Inf and NaN.
func geluGrid32() []float32 {
	var xs []float32
	for i := -14 << 12; i <= 9<<12; i++ {
		xs = append(xs, float32(i)/(1<<12))
	}
	for _, v := range []float64{1e-45, 1e-40, 1.2e-38, 1e-30, 1e-8, 1e-3, 8, 9, 13, 20, 36.7, 40, 1e10, 1e30, math.MaxFloat32} {
		xs = append(xs, float32(v), float32(-v))
	}
	return append(xs, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)))
}

// TestGELUFloat32Dense checks both implementations of the float32 GELU and
// its derivative, on float32 data, against the float64 reference: the
// float32 result must be within half an ulp of the reference plus the
// approximation's documented error. Non-finite inputs are compared between
// the implementations (TestGELUNonFinite checks their values).
func TestGELUFloat32Dense(t *testing.T) {
	xs := geluGrid32()
	ones := make([]float32, len(xs))
	for i := range ones {
		ones[i] = 1
	}
	for _, a := range geluApproxes {
		for _, im := range geluImpls[float32]() {
			y, d := make([]float32, len(xs)), make([]float32, len(xs))
			im.fwd(y, xs, a, true)
			im.bwd(d, ones, xs, a, true)
			var worstY, worstD float64 // in units of the allowed error
			bad := 0
			for i, v := range xs {
				x := float64(v)
				if math.IsNaN(x) || math.IsInf(x, 0) {
					continue
				}
				wy, wd, ds := geluRef(x, a)
				tf, tb := geluTol(x, wy, a)
				ey := math.Abs(float64(y[i])-wy) / (0.5*ulp32(wy) + tf + 1e-45)
				ed := math.Abs(float64(d[i])-wd) / (0.5*ulp32(wd) + tb*ds + 1e-45)
				worstY, worstD = max(worstY, ey), max(worstD, ed)
				if (ey > 1 || ed > 1) && bad < 5 {
					bad++
					t.Errorf("%s %v x=%g: y=%g want %g, d=%g want %g", im.name, a, x, y[i], wy, d[i], wd)
				}
			}
			t.Logf("%s %v: worst error %.3g (forward), %.3g (derivative) of the allowed", im.name, a, worstY, worstD)
		}
	}
}

// TestGELUFloat64Fast checks the float32 backend's approximations, both
// forms, evaluated by the pure-Go path on float64 data, against the
// reference on a dense grid: without the rounding to float32 the errors
// must stay within the documented bounds before rounding (the only check
// of those for the tanh form; the assembly kernels, float32 only, are held
// to them after rounding by TestGELUFloat32Dense).
func TestGELUFloat64Fast(t *testing.T) {
	const n = 230_001
	xs := make([]float64, n)
	ones := make([]float64, n)
	for i := range xs {
		xs[i] = -14 + float64(i)*1e-4
		ones[i] = 1
	}
	for _, a := range geluApproxes {
		for _, im := range geluImpls[float64]() {
			y, d := make([]float64, n), make([]float64, n)
			im.fwd(y, xs, a, true)
			im.bwd(d, ones, xs, a, true)
			var worstY, worstD float64
			for i, x := range xs {
				wy, wd, ds := geluRef(x, a)
				tf, tb := geluTol(x, wy, a)
				worstY = max(worstY, math.Abs(y[i]-wy)/(tf+1e-300))
				worstD = max(worstD, math.Abs(d[i]-wd)/(tb*ds))
			}
			t.Logf("%s %v: worst error %.3g (forward), %.3g (derivative) of the allowed", im.name, a, worstY, worstD)
			if worstY > 1 || worstD > 1 {
				t.Errorf("%s %v: errors %.3g, %.3g times the documented bounds", im.name, a, worstY, worstD)
			}
		}
	}
}

// geluAgree reports whether two float32-backend results for x agree: within
// an ulp of the larger plus twice the approximation's error (each is within
// half an ulp plus that error of the exact value), or both NaN.
func geluAgree(got, want, x float64, a kernels.GELUApprox, bwd bool) bool {
	if math.IsNaN(got) || math.IsNaN(want) || math.IsInf(want, 0) {
		return math.IsNaN(got) == math.IsNaN(want) && (math.IsNaN(got) || got == want)
	}
	tf, tb := geluTol(x, want, a)
	tol := 2 * tf
	if bwd {
		tol = 2 * tb * max(math.Abs(want), 1)
	}
	return math.Abs(got-want) <= ulp32(max(math.Abs(got), math.Abs(want)))+tol
}

// TestGELUAsmMatchesGo compares the assembly kernels with the pure-Go path
// for every length up to 70 (the 4-wide body and the padded tail), with
// separate and aliased outputs (y == x, dx == dy), on random inputs mixed
// with zeros, large values and non-finite ones; elements past the end must
// stay untouched.
func TestGELUAsmMatchesGo(t *testing.T) {
	if !hasGELUAsm {
		t.Skip("no assembly GELU in this build or on this CPU")
	}
	rng := testutil.NewRand(17)
	specials := []float64{0, math.Copysign(0, -1), 1e-40, -9, 9, -1e30, math.NaN(), math.Inf(1), math.Inf(-1)}
	const guard = 5
	for _, a := range geluApproxes {
		for n := 0; n <= 70; n++ {
			x := testutil.Rand(rng, n, 6)
			dy := testutil.Rand(rng, n, 2)
			for i := 0; i < n; i += 7 {
				x[i] = float32(specials[(i/7+n)%len(specials)])
			}
			want, wantD := make([]float32, n), make([]float32, n)
			geluSliceGo(want, x, a, true)
			geluGradSliceGo(wantD, dy, x, a, true)

			y := make([]float32, n+guard)
			for i := range y {
				y[i] = 7
			}
			geluSlice(y[:n], x, a, true)
			d := append(append([]float32(nil), dy...), 7, 7, 7, 7, 7)
			geluGradSlice(d[:n], d[:n], x, a, true) // dx aliases dy
			xa := append([]float32(nil), x...)
			geluSlice(xa, xa, a, true) // y aliases x
			for i := range n {
				xv := float64(x[i])
				if !geluAgree(float64(y[i]), float64(want[i]), xv, a, false) || !geluAgree(float64(d[i]), float64(wantD[i]), xv, a, true) {
					t.Errorf("%v n=%d x[%d]=%g: asm y=%g dx=%g, go y=%g dx=%g", a, n, i, xv, y[i], d[i], want[i], wantD[i])
				}
				if xa[i] != y[i] && !(math.IsNaN(float64(xa[i])) && math.IsNaN(float64(y[i]))) {
					t.Errorf("%v n=%d: in place y[%d]=%g, out of place %g", a, n, i, xa[i], y[i])
				}
			}
			for i := n; i < n+guard; i++ {
				if y[i] != 7 || d[i] != 7 {
					t.Errorf("%v n=%d: wrote past the end: y[%d]=%g dx[%d]=%g", a, n, i, y[i], i, d[i])
				}
			}
		}
	}
}
