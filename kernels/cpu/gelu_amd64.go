//go:build amd64 && !purego

package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// The AVX2 + FMA GELU kernels of gelu_amd64.s. Each evaluates the float32
// backend's approximations (geluErfFast, normTail and geluTanhSigmoid in
// gelu.go) four elements at a time in float64 lanes, reading and writing
// float32, and handles n elements, n a multiple of 4. y may equal x, and dx
// may equal dy or x.

//go:noescape
func geluErfF32(y, x *float32, n int)

//go:noescape
func geluTanhF32(y, x *float32, n int)

//go:noescape
func geluErfGradF32(dx, dy, x *float32, n int)

//go:noescape
func geluTanhGradF32(dx, dy, x *float32, n int)

// hasGELUAsm reports whether geluAsm and geluGradAsm run assembly.
var hasGELUAsm = hasAVX2FMA

// geluVec holds the constants of gelu_amd64.s, each repeated over the four
// float64 lanes of a YMM register (as bits, for the sign masks), in the
// order of geluVecList: the assembly's K(i) is entry i.
var geluVec [len(geluVecList)][4]uint64

func init() {
	for i, v := range geluVecList {
		geluVec[i] = [4]uint64{v, v, v, v}
	}
}

// geluVecLen is the number of constants gelu_amd64.s names, K(0) to
// K(geluVecLen−1); the array sizes below fail to compile if geluVecList has
// another length.
const geluVecLen = 47

var (
	_ [len(geluVecList) - geluVecLen]struct{}
	_ [geluVecLen - len(geluVecList)]struct{}
)

// f64 returns the bits of v for geluVecList.
func f64(v float64) uint64 { return math.Float64bits(v) }

// geluVecList lists the constants of gelu_amd64.s. The assembly names them
// with #defines that must follow this order.
var geluVecList = [...]uint64{
	f64(1), f64(0.5), // 0 ONE, 1 HALF
	0x7FFFFFFFFFFFFFFF, // 2 ABS: clears the sign bit
	f64(sqrt1_2),       // 3 SQRT1_2
	// The forward's rational erf (geluErfFast).
	f64(-erfZMax), f64(erfZMax), // 4 ERFLO, 5 ERFHI
	f64(erfP0), f64(erfP1), f64(erfP2), f64(erfP3), f64(erfP4), f64(erfP5), f64(erfP6), // 6..12 P0..P6
	f64(erfQ1), f64(erfQ2), f64(erfQ3), f64(erfQ4), f64(erfQ5), // 13..17 Q1..Q5
	// The backward's normal tail (normTail).
	f64(normZMax), f64(erfcP), f64(lnSqrt2Pi), // 18 ZMAX, 19 ERFCP, 20 LNSQRT2PI
	// 21..31 C0..C10: erfcQ·√(2π)/2, so that t·C(t)·φ(x) is Φ(−|x|).
	f64(0.5 * sqrt2Pi * erfcQ0), f64(0.5 * sqrt2Pi * erfcQ1), f64(0.5 * sqrt2Pi * erfcQ2),
	f64(0.5 * sqrt2Pi * erfcQ3), f64(0.5 * sqrt2Pi * erfcQ4), f64(0.5 * sqrt2Pi * erfcQ5),
	f64(0.5 * sqrt2Pi * erfcQ6), f64(0.5 * sqrt2Pi * erfcQ7), f64(0.5 * sqrt2Pi * erfcQ8),
	f64(0.5 * sqrt2Pi * erfcQ9), f64(0.5 * sqrt2Pi * erfcQ10),
	// The exponential.
	f64(1 / ln2), f64(ln2), f64(expShift), // 32 INVLN2, 33 LN2, 34 SHIFT
	f64(expF0), f64(expF1), f64(expF2), f64(expF3), f64(expF4), f64(expF5), f64(expF6), // 35..41 E0..E6
	// The tanh form: 2u = x·(T1 + T2·x²), d(2u)/dx = T1 + T3·x².
	f64(2 * sqrt2OverPi), f64(2 * sqrt2OverPi * geluTanhA), f64(6 * sqrt2OverPi * geluTanhA), // 42 T1, 43 T2, 44 T3
	f64(-expClamp), f64(expClamp), // 45 ELO, 46 EHI
}

// geluAsm writes y = GELU(x) with the float32 backend's approximation using
// the assembly kernels and reports whether it did: only for float32 data
// on a CPU with AVX2 and FMA. len(y) >= len(x).
func geluAsm[T Float](y, x []T, approx kernels.GELUApprox) bool {
	x32, ok := any(x).([]float32)
	if !hasGELUAsm || !ok {
		return false
	}
	k := geluErfF32
	if approx == kernels.GELUTanh {
		k = geluTanhF32
	}
	vecFwd(k, any(y).([]float32), x32)
	return true
}

// geluGradAsm writes dx = dy·GELU'(x) like geluAsm; len(dx), len(dy) >=
// len(x).
func geluGradAsm[T Float](dx, dy, x []T, approx kernels.GELUApprox) bool {
	x32, ok := any(x).([]float32)
	if !hasGELUAsm || !ok {
		return false
	}
	k := geluErfGradF32
	if approx == kernels.GELUTanh {
		k = geluTanhGradF32
	}
	vecGrad(k, any(dx).([]float32), any(dy).([]float32), x32)
	return true
}

// vecFwd runs the forward kernel k on the multiple-of-4 body of x and on the
// last len(x)%4 elements padded in a buffer, so that every element goes
// through the same arithmetic wherever it sits.
func vecFwd(k func(y, x *float32, n int), y, x []float32) {
	body := len(x) &^ 3
	y = y[:len(x)]
	if body > 0 {
		k(&y[0], &x[0], body)
	}
	if body < len(x) {
		var buf [4]float32
		copy(buf[:], x[body:])
		k(&buf[0], &buf[0], 4)
		copy(y[body:], buf[:])
	}
}

// vecGrad is vecFwd for the backward kernels.
func vecGrad(k func(dx, dy, x *float32, n int), dx, dy, x []float32) {
	body := len(x) &^ 3
	dx, dy = dx[:len(x)], dy[:len(x)]
	if body > 0 {
		k(&dx[0], &dy[0], &x[0], body)
	}
	if body < len(x) {
		var bx, bdy [4]float32
		copy(bx[:], x[body:])
		copy(bdy[:], dy[body:])
		k(&bdy[0], &bdy[0], &bx[0], 4)
		copy(dx[body:], bdy[:])
	}
}
