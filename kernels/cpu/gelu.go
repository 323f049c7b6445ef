package cpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// GELU computes y = GELU(x) elementwise (Hendrycks & Gimpel 2016) for any
// shape; y and x have the same number of elements and y may alias x.
//
// approx GELUErf is the exact x·Φ(x) = 0.5·x·(1 + erf(x/√2)) of PyTorch's
// nn.GELU(); GELUTanh is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// The float64 backend evaluates Φ with math.Erfc; the float32 backend with
// normCDFFast (relative error below 2e-8, see there). Φ is computed as
// erfc(−x/√2)/2, so GELU keeps full relative precision for negative x where
// 1 + erf cancels. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType for missing, mis-sized or foreign tensors, or for an
// unknown approx.
func (b *Backend) GELU(y, x kernels.Tensor, approx kernels.GELUApprox) error {
	const op = "cpu gelu"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}, kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		geluOp(b, host[float64](y), host[float64](x), approx)
	} else {
		geluOp(b, host[float32](y), host[float32](x), approx)
	}
	return nil
}

// GELUBackward overwrites dx = dy·GELU'(x) for the approximation approx; dx,
// dy and x have the same number of elements and dx may alias dy (or x).
// GELU'(x) = Φ(x) + x·φ(x) for GELUErf, with φ the standard normal density;
// for GELUTanh it is the derivative of x·σ(2u), u = √(2/π)·(x + 0.044715·x³).
// Errors as for GELU.
func (b *Backend) GELUBackward(dx, dy, x kernels.Tensor, approx kernels.GELUApprox) error {
	const op = "cpu gelu backward"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape},
		kernels.Arg{Name: "dy", T: dy, Want: x.Shape}, kernels.Arg{Name: "dx", T: dx, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		geluBackwardOp(b, host[float64](dx), host[float64](dy), host[float64](x), approx)
	} else {
		geluBackwardOp(b, host[float32](dx), host[float32](dy), host[float32](x), approx)
	}
	return nil
}

// checkApprox rejects GELUApprox values other than GELUErf and GELUTanh.
func checkApprox(op string, a kernels.GELUApprox) error {
	if a != kernels.GELUErf && a != kernels.GELUTanh {
		return fmt.Errorf("%s: unknown GELU approximation %d (want erf or tanh)", op, uint8(a))
	}
	return nil
}

// geluCost is GELU's work per element in parallelFor's unit (elements
// touched): the erfc polynomial and exponential cost about as much as
// streaming 20 elements.
const geluCost = 20

func geluOp[T Float](b *Backend, y, x []T, approx kernels.GELUApprox) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), geluCost, func(lo, hi int) {
		geluSlice(y[lo:hi], x[lo:hi], approx, fast)
	})
}

func geluBackwardOp[T Float](b *Backend, dx, dy, x []T, approx kernels.GELUApprox) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), geluCost, func(lo, hi int) {
		geluGradSlice(dx[lo:hi], dy[lo:hi], x[lo:hi], approx, fast)
	})
}

// geluSlice writes y[i] = GELU(x[i]); y may alias x. fast selects the
// float32-accurate approximations (for the float32 backend) over the math
// package's float64 functions.
func geluSlice[T Float](y, x []T, approx kernels.GELUApprox, fast bool) {
	y = y[:len(x)]
	switch {
	case approx == kernels.GELUTanh:
		for i, v := range x {
			f := float64(v)
			s, _ := geluTanhSigmoid(f, fast)
			y[i] = T(f * s)
		}
	case fast:
		for i, v := range x {
			f := float64(v)
			c, _ := normCDFFast(f)
			y[i] = T(f * c)
		}
	default:
		for i, v := range x {
			f := float64(v)
			y[i] = T(f * 0.5 * math.Erfc(-f*sqrt1_2))
		}
	}
}

// geluGradSlice writes dx[i] = dy[i]·GELU'(x[i]); dx may alias dy or x.
func geluGradSlice[T Float](dx, dy, x []T, approx kernels.GELUApprox, fast bool) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	switch {
	case approx == kernels.GELUTanh:
		for i, v := range x {
			_, d := geluTanhSigmoid(float64(v), fast)
			dx[i] = T(float64(dy[i]) * d)
		}
	case fast:
		for i, v := range x {
			f := float64(v)
			c, p := normCDFFast(f)
			dx[i] = T(float64(dy[i]) * (c + f*p))
		}
	default:
		for i, v := range x {
			f := float64(v)
			d := 0.5*math.Erfc(-f*sqrt1_2) + f*math.Exp(-0.5*f*f)*invSqrt2Pi
			dx[i] = T(float64(dy[i]) * d)
		}
	}
}

const (
	sqrt1_2     = 0.70710678118654752440 // 1/√2
	invSqrt2Pi  = 0.39894228040143267794 // 1/√(2π)
	sqrt2OverPi = 0.79788456080286535588 // √(2/π)
	geluTanhA   = 0.044715
)

// geluTanhSigmoid returns, for the tanh form GELU(x) = x·σ(2u) with
// u = √(2/π)·(x + 0.044715·x³) (0.5·(1 + tanh u) = σ(2u)), the factor σ(2u)
// and the derivative d/dx GELU = σ + x·σ·(1 − σ)·2u'. fast uses expFast.
func geluTanhSigmoid(x float64, fast bool) (s, d float64) {
	u2 := 2 * sqrt2OverPi * (x + geluTanhA*x*x*x)
	var e float64
	if fast {
		a := -u2
		if a > 700 {
			a = 700
		} else if a < -700 {
			a = -700
		}
		e = expFast(a)
	} else {
		e = math.Exp(-u2)
	}
	s = 1 / (1 + e)
	du2 := 2 * sqrt2OverPi * (1 + 3*geluTanhA*x*x)
	return s, s + x*s*(1-s)*du2
}

// Coefficients of the float32 fast path, fitted by testdata/erfc_fit.py
// (weighted least squares on the relative error, Lawson-iterated towards
// minimax, against 40-digit mpmath values).
const (
	// erfcP is the P of t = 1/(1 + P·z).
	erfcP = 0.4
	// erfcQ0..erfcQ10: erfc(z)·exp(z²) = t·Q(t) for z >= 0, max relative
	// error 6.2e-9.
	erfcQ0  = 0.2256758347950269
	erfcQ1  = 0.22567586009081525
	erfcQ2  = 0.20761372856795585
	erfcQ3  = 0.171739298042473
	erfcQ4  = 0.11900820419595637
	erfcQ5  = 0.08391675848104008
	erfcQ6  = -0.04689594654826834
	erfcQ7  = 0.13756243657246614
	erfcQ8  = -0.2355280678904137
	erfcQ9  = 0.14044706937579576
	erfcQ10 = -0.02921518185939931
	// expC0..expC6: exp(r) for |r| <= ln2/2, max relative error 1.9e-9.
	expC0 = 1.0000000005546095
	expC1 = 1.0000000363447308
	expC2 = 0.4999999207505012
	expC3 = 0.16666420072064925
	expC4 = 0.04166822619836758
	expC5 = 0.008374824054430977
	expC6 = 0.0013836835226505308
)

// expFast returns e^y for y in [−708, 708] with relative error below 3e-9
// (the fit's 1.9e-9 plus rounding): y = k·ln2 + r with k = round(y/ln2),
// e^y = 2^k·e^r, e^r from a degree-6 polynomial on |r| <= ln2/2. Outside
// that range and for NaN the result is meaningless (callers clamp). It is
// small enough to be inlined into the GELU loops.
func expFast(y float64) float64 {
	const (
		log2e = 1.44269504088896340736
		ln2   = 0.69314718055994530942
		shift = 0x1.8p52 // adding it rounds to an integer kept in the low mantissa bits
	)
	kf := y*log2e + shift
	k := int64(int32(uint32(math.Float64bits(kf))))
	kf -= shift
	r := y - kf*ln2
	p := ((((((expC6*r+expC5)*r+expC4)*r+expC3)*r+expC2)*r+expC1)*r + expC0)
	return p * math.Float64frombits(uint64(k+1023)<<52)
}

// erfcFast returns erfc(z) = 1 − erf(z) for z >= 0 with relative error below
// 1e-8 (6.2e-9 fit + 3e-9 expFast + rounding; TestErfcFast measures it
// against math.Erfc), and e^(−z²) as a by-product. The form
// erfc(z) = t·e^(−z²)·Q(t), t = 1/(1 + 0.4·z), is that of Abramowitz &
// Stegun 7.1.25–26 and Numerical Recipes' erfcc (a polynomial in t times the
// Gaussian); the coefficients are our own fit (testdata/erfc_fit.py), which
// keeps the error relative, not absolute, out to z = 26 where erfc
// underflows float32 by far. z above 26 is clamped to 26.
func erfcFast(z float64) (erfc, gauss float64) {
	if z > 26 {
		z = 26
	}
	t := 1 / (1 + erfcP*z)
	q := (((((((((erfcQ10*t+erfcQ9)*t+erfcQ8)*t+erfcQ7)*t+erfcQ6)*t+erfcQ5)*t+erfcQ4)*t+erfcQ3)*t+erfcQ2)*t+erfcQ1)*t + erfcQ0
	gauss = expFast(-z * z)
	return t * q * gauss, gauss
}

// normCDFFast returns the standard normal CDF Φ(x) = erfc(−x/√2)/2 and
// density φ(x) = e^(−x²/2)/√(2π), each with relative error below 1.2e-8 for
// every x whose results are normal float32 numbers (and absolute error below
// 1e-8 beyond). For x <= 0 it returns erfc(|x|/√2)/2 directly, for x > 0 its
// complement, so neither side suffers cancellation. This is the float32
// backend's GELU; the float64 backend uses math.Erfc and math.Exp.
func normCDFFast(x float64) (cdf, pdf float64) {
	e, g := erfcFast(math.Abs(x) * sqrt1_2)
	h := 0.5 * e
	if x > 0 {
		h = 1 - h
	}
	return h, g * invSqrt2Pi
}
