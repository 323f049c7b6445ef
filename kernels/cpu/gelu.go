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
// The float64 backend evaluates Φ = erfc(−x/√2)/2 with math.Erfc, exact
// to rounding even far into the negative tail where 1 + erf cancels. The
// float32 backend uses the exponential-free geluErfFast in float64
// arithmetic: absolute error below 3e-9·|x| before rounding to float32,
// relative 5e-9 for x >= 0 and 1e-7 for x >= −2, growing in the negative
// tail where x·Φ(x) is tiny (for comparison, PyTorch 1.13's float32 GELU
// measures 2.7e-7·|x| and 4e-6 relative on [−2, 0]). The tanh form is
// evaluated as x·σ(2u), which does not cancel either; its float32 path has
// relative error below 1e-9 before rounding. On amd64 with AVX2 and FMA
// the float32 backend runs these approximations four elements per
// instruction in assembly (gelu_amd64.s), with the same bounds; TestGELU*
// check both paths. It returns an error
// wrapping kernels.ErrShape or kernels.ErrDType for missing, mis-sized or
// foreign tensors, or an error for an unknown approx.
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
	b.roundBF16(y)
	return nil
}

// GELUBackward overwrites dx = dy·GELU'(x) for the approximation approx; dx,
// dy and x have the same number of elements and dx may alias dy (or x).
// GELU'(x) = Φ(x) + x·φ(x) for GELUErf, with φ the standard normal density;
// for GELUTanh it is the derivative of x·σ(2u), u = √(2/π)·(x + 0.044715·x³).
// The float32 backend evaluates Φ and φ with normTail, which needs the
// exponential φ anyway and gets Φ from it with relative error below 1e-8
// everywhere (the assembly of [Backend.GELU] uses the same erfc fit with a
// polynomial exponential); the tanh form's derivative has error below 2e-9
// of the size of its terms. Errors as for GELU.
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
	b.roundBF16(dx)
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
// streaming 20 elements, or 4 in the assembly kernels.
const geluCost, geluCostAsm = 20, 4

// geluCostOf returns the work per element of the float32 backend's GELU
// (fast) or the float64 one's.
func geluCostOf(fast bool) int {
	if fast && hasGELUAsm {
		return geluCostAsm
	}
	return geluCost
}

func geluOp[T Float](b *Backend, y, x []T, approx kernels.GELUApprox) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), geluCostOf(fast), func(lo, hi int) {
		geluSlice(y[lo:hi], x[lo:hi], approx, fast)
	})
}

func geluBackwardOp[T Float](b *Backend, dx, dy, x []T, approx kernels.GELUApprox) {
	fast := isFloat32[T]()
	b.parallelFor(len(x), geluCostOf(fast), func(lo, hi int) {
		geluGradSlice(dx[lo:hi], dy[lo:hi], x[lo:hi], approx, fast)
	})
}

// geluSlice writes y[i] = GELU(x[i]); y may alias x. fast selects the
// float32-accurate approximation (for the float32 backend) over the math
// package's float64 functions; it runs in assembly where geluAsm can
// (float32 data, AVX2 and FMA).
func geluSlice[T Float](y, x []T, approx kernels.GELUApprox, fast bool) {
	y = y[:len(x)]
	if fast && geluAsm(y, x, approx) {
		return
	}
	geluSliceGo(y, x, approx, fast)
}

// geluSliceGo is geluSlice in pure Go.
func geluSliceGo[T Float](y, x []T, approx kernels.GELUApprox, fast bool) {
	y = y[:len(x)]
	switch {
	case approx == kernels.GELUTanh:
		for i, v := range x {
			f := float64(v)
			s, _ := geluTanhSigmoid(f, fast)
			y[i] = T(f * s)
		}
	case fast:
		geluErfFast(y, x)
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
	if fast && geluGradAsm(dx, dy, x, approx) {
		return
	}
	geluGradSliceGo(dx, dy, x, approx, fast)
}

// geluGradSliceGo is geluGradSlice in pure Go.
func geluGradSliceGo[T Float](dx, dy, x []T, approx kernels.GELUApprox, fast bool) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	switch {
	case approx == kernels.GELUTanh:
		for i, v := range x {
			_, d := geluTanhSigmoid(float64(v), fast)
			dx[i] = T(float64(dy[i]) * d)
		}
	case fast:
		var tail, gauss [normBlock]float64
		for lo := 0; lo < len(x); lo += normBlock {
			xs := x[lo:min(lo+normBlock, len(x))]
			dxs, dys := dx[lo:lo+len(xs)], dy[lo:lo+len(xs)]
			normTail(xs, tail[:len(xs)], gauss[:len(xs)])
			for i, v := range xs {
				f := float64(v)
				h := tail[i]
				cdf := h + positive(f)*(1-2*h)
				dxs[i] = T(float64(dys[i]) * (cdf + f*gauss[i]*invSqrt2Pi))
			}
		}
	default:
		for i, v := range x {
			f := float64(v)
			d := 0.5*math.Erfc(-f*sqrt1_2) + f*math.Exp(-0.5*f*f)*invSqrt2Pi
			dx[i] = T(float64(dy[i]) * d)
		}
	}
}

// geluErfFast writes y[i] = x·(1 + erf(x/√2))/2 for the float32 backend's
// GELU forward; y may alias x. erf(z) is, for |z| <= 4.5, z·P(z²)/Q(z²)
// with our own degree-6/5 rational fit (testdata/gelu_fit.py; the form of
// Cody's and Eigen's erf), relative error 4.4e-9, and ±erf(4.5) =
// ±(1 − 2e-10) beyond. It needs no exponential and costs about half of
// normTail. Evaluated in float64, GELU then has an absolute error below
// 3e-9·|x| before rounding to float32: relative 5e-9 for x >= 0, 1e-7 for
// x >= −2, 2e-6 at x = −3, 3e-3 at x = −5 where x·Φ(x) is −1.4e-6.
// TestGELUFastDense measures it. NaN propagates.
func geluErfFast[T Float](y, x []T) {
	y = y[:len(x)]
	for i, v := range x {
		f := float64(v)
		z := f * sqrt1_2
		if z > erfZMax {
			z = erfZMax
		} else if z < -erfZMax {
			z = -erfZMax
		}
		u := z * z
		u2 := u * u
		u4 := u2 * u2
		p := (erfP0 + erfP1*u) + (erfP2+erfP3*u)*u2 + ((erfP4+erfP5*u)+erfP6*u2)*u4
		q := (1 + erfQ1*u) + (erfQ2+erfQ3*u)*u2 + (erfQ4+erfQ5*u)*u4
		y[i] = T(0.5*f + 0.5*f*(z*p/q))
	}
}

// positive returns 1 if x has a clear sign bit (x >= +0) and 0 otherwise,
// without a branch (GELU's inputs have random signs, which branch
// predictors cannot learn).
func positive(x float64) float64 {
	return math.Float64frombits(0x3FF0000000000000 &^ uint64(int64(math.Float64bits(x))>>63))
}

const (
	sqrt1_2     = 0.70710678118654752440 // 1/√2
	invSqrt2Pi  = 0.39894228040143267794 // 1/√(2π)
	sqrt2Pi     = 2.50662827463100050242 // √(2π)
	lnSqrt2Pi   = 0.91893853320467274178 // ln √(2π)
	sqrt2OverPi = 0.79788456080286535588 // √(2/π)
	geluTanhA   = 0.044715
	ln2         = 0.69314718055994530942
	// expClamp bounds the argument of the tanh form's exponential, which
	// then neither overflows nor underflows float64.
	expClamp = 700
	// erfZMax is where geluErfFast clamps z = x/√2: erf(4.5) = 1 − 2e-10.
	erfZMax = 4.5
	// normZMax is where normTail clamps z = |x|/√2: Φ(−26·√2) ≈ 1e-296
	// and e^(−26²) underflow float32 by far and still are normal float64.
	normZMax = 26
)

// geluTanhSigmoid returns, for the tanh form GELU(x) = x·σ(2u) with
// u = √(2/π)·(x + 0.044715·x³) (0.5·(1 + tanh u) = σ(2u)), the factor σ(2u)
// and the derivative d/dx GELU = σ + x·σ·(1 − σ)·2u'. fast uses expTable.
func geluTanhSigmoid(x float64, fast bool) (s, d float64) {
	u2 := 2 * sqrt2OverPi * (x + geluTanhA*x*x*x)
	var e float64
	if fast {
		a := -u2
		if a > expClamp {
			a = expClamp
		} else if a < -expClamp {
			a = -expClamp
		}
		e = expTable(a)
	} else {
		e = math.Exp(-u2)
	}
	s = 1 / (1 + e)
	du2 := 2 * sqrt2OverPi * (1 + 3*geluTanhA*x*x)
	return s, s + x*s*(1-s)*du2
}

// Coefficients of the float32 fast paths, fitted by testdata/gelu_fit.py
// (weighted least squares on the relative error, Lawson-iterated towards
// minimax, against 40-digit mpmath values).
const (
	// erfcP is the P of t = 1/(1 + P·z).
	erfcP = 0.4
	// erfP0..erfP6, erfQ1..erfQ5: erf(z) = z·P(z²)/Q(z²), Q(0) = 1, for
	// |z| <= 4.5, max relative error 4.4e-9.
	erfP0 = 1.1283791621747756
	erfP1 = 0.18632265023957828
	erfP2 = 0.054444254758619234
	erfP3 = 0.0038932233577865546
	erfP4 = 0.0003796256767964075
	erfP5 = 4.656502003257124e-06
	erfP6 = -1.3131462556215112e-08
	erfQ1 = 0.49845741960974915
	erfQ2 = 0.11440250997578337
	erfQ3 = 0.01554855242429057
	erfQ4 = 0.0013165728029299738
	erfQ5 = 6.285634261042486e-05
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
	// expF0..expF6: e^r = 1 + r + r²·E(r) for |r| <= ln2/2, max relative
	// error 4e-12 (the assembly kernels' exponential, gelu_amd64.s).
	expF0 = 0.500000000002088
	expF1 = 0.16666666718769968
	expF2 = 0.04166666640540685
	expF3 = 0.008333298559598275
	expF4 = 0.0013888923742652183
	expF5 = 0.00019899223421287495
	expF6 = 2.482087115125071e-05
)

// expShift = 1.5·2^52: adding it to |v| < 2^51 rounds v to an integer held
// in the low mantissa bits.
const expShift = 0x1.8p52

// exp2Frac holds the bits of 2^(j/32), j = 0..31, for expTable.
var exp2Frac = [32]uint64{
	0x3ff0000000000000, 0x3ff059b0d3158574, 0x3ff0b5586cf9890f, 0x3ff11301d0125b51,
	0x3ff172b83c7d517b, 0x3ff1d4873168b9aa, 0x3ff2387a6e756238, 0x3ff29e9df51fdee1,
	0x3ff306fe0a31b715, 0x3ff371a7373aa9cb, 0x3ff3dea64c123422, 0x3ff44e086061892d,
	0x3ff4bfdad5362a27, 0x3ff5342b569d4f82, 0x3ff5ab07dd485429, 0x3ff6247eb03a5585,
	0x3ff6a09e667f3bcd, 0x3ff71f75e8ec5f74, 0x3ff7a11473eb0187, 0x3ff82589994cce13,
	0x3ff8ace5422aa0db, 0x3ff93737b0cdc5e5, 0x3ff9c49182a3f090, 0x3ffa5503b23e255d,
	0x3ffae89f995ad3ad, 0x3ffb7f76f2fb5e47, 0x3ffc199bdd85529c, 0x3ffcb720dcef9069,
	0x3ffd5818dcfba487, 0x3ffdfc97337b9b5f, 0x3ffea4afa2a490da, 0x3fff50765b6e4540,
}

// expTable returns e^y for y in [−708, 708] with relative error below 6e-10:
// y = (32·k + j)·ln2/32 + r with |r| <= ln2/64, e^y = 2^k·2^(j/32)·e^r,
// 2^(j/32) from exp2Frac (correctly rounded) and e^r from its degree-3
// Taylor polynomial (error r⁴/24 <= 5.7e-10). The exponent k is added to
// the table entry's bits; it costs about half of a degree-6 polynomial
// exponential and a third of math.Exp. Outside the range and for NaN the
// result is meaningless (callers clamp).
func expTable(y float64) float64 {
	const (
		invLn2Over32 = 32 / 0.69314718055994530942
		ln2Over32    = 0.69314718055994530942 / 32
	)
	kf := y*invLn2Over32 + expShift
	k := int64(int32(uint32(math.Float64bits(kf))))
	kf -= expShift
	r := y - kf*ln2Over32
	p := (1 + r) + (r*r)*(0.5+r*(1.0/6))
	return p * math.Float64frombits(exp2Frac[k&31]+uint64(k>>5)<<52)
}

// normBlock is the number of elements normTail handles per call: the
// passes over a block of this size keep the working set in registers and L1
// while giving the processor many independent chains to overlap.
const normBlock = 64

// normTail computes, for the float32 backend's GELU, the lower normal tail
// tail[i] = Φ(−|x_i|) = erfc(|x_i|/√2)/2 and the Gaussian gauss[i] =
// e^(−x_i²/2), for len(x) <= normBlock and len(tail) = len(gauss) = len(x).
//
// Method: with z = |x|/√2, erfc(z) = t·e^(−z²)·Q(t), t = 1/(1 + 0.4·z), the
// form of Abramowitz & Stegun 7.1.25–26 and Numerical Recipes' erfcc (a
// polynomial in t times the Gaussian), with our own degree-10 Q fitted to the
// relative error (testdata/gelu_fit.py, 6.2e-9); e^(−z²) comes from
// expTable (6e-10). TestNormTail measures the result against math.Erfc on a
// dense grid: relative error below 1e-8 for tail and 1e-9 for gauss, for
// every |x| up to 36 (z is clamped to 26 beyond, where both underflow
// float32 by far). The error is relative, so the GELU derivative keeps full
// float32 precision for negative x, unlike 1 + erf(x/√2). NaN propagates
// into tail and gauss as garbage, never a panic; the backward's final
// multiplication by x makes the output NaN.
//
// The work is split into passes over the block (division, polynomial,
// exponential), each with independent iterations and Estrin-style
// polynomial evaluation: the scalar chain of one element is long, and this
// is about twice as fast as evaluating element by element.
func normTail[T Float](x []T, tail, gauss []float64) {
	tail, gauss = tail[:len(x)], gauss[:len(x)]
	for i, v := range x {
		z := math.Abs(float64(v)) * sqrt1_2
		if z > normZMax {
			z = normZMax
		}
		gauss[i] = z
		tail[i] = 1 / (1 + erfcP*z)
	}
	for i, t := range tail {
		t2 := t * t
		t4 := t2 * t2
		t8 := t4 * t4
		q := (erfcQ0 + erfcQ1*t + (erfcQ2+erfcQ3*t)*t2) +
			(erfcQ4+erfcQ5*t+(erfcQ6+erfcQ7*t)*t2)*t4 +
			(erfcQ8+erfcQ9*t+erfcQ10*t2)*t8
		tail[i] = 0.5 * t * q
	}
	for i, z := range gauss {
		g := expTable(-z * z)
		gauss[i] = g
		tail[i] *= g
	}
}
