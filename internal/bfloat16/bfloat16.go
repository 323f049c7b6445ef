// Package bfloat16 converts float32 to and from bfloat16 (brain floating
// point: the upper 16 bits of an IEEE-754 binary32, 8 exponent bits and 7
// fraction bits) with the rounding PyTorch and CUDA use: round to nearest,
// ties to even (c10::BFloat16's round_to_nearest_even, CUDA's
// __float2bfloat16_rn).
package bfloat16

import "math"

// nanBits is the bfloat16 NaN every NaN converts to: PyTorch's canonical
// quiet NaN 0x7fc0.
const nanBits = 0x7fc0

// FromFloat32 returns the bfloat16 nearest to x, ties to the even
// significand. Values beyond the largest finite bfloat16 (about 3.39e38)
// round to ±Inf, subnormals round like normal numbers (no flush to zero),
// ±Inf stays ±Inf, ±0 keeps its sign, and every NaN becomes 0x7fc0 (a NaN; PyTorch
// produces 0x7fc0 or 0xffff depending on its code path, CUDA 0x7fff).
func FromFloat32(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return nanBits
	}
	// Adding 0x7fff plus the lowest kept bit carries into the kept half
	// exactly when the dropped half is above the tie, or at the tie with an
	// odd kept half.
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// ToFloat32 returns the float32 whose upper 16 bits are b; it is exact.
func ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Round returns x rounded to the nearest bfloat16 value, as a float32:
// ToFloat32(FromFloat32(x)). A NaN stays NaN and ±Inf stays ±Inf.
func Round(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return x
	}
	return math.Float32frombits((u + 0x7fff + (u>>16)&1) &^ 0xffff)
}

// RoundSlice rounds every element of v in place with [Round].
func RoundSlice(v []float32) {
	for i, x := range v {
		v[i] = Round(x)
	}
}

// Representable reports whether x is exactly a bfloat16 value (its lower 16
// bits are zero), or a NaN.
func Representable(x float32) bool {
	u := math.Float32bits(x)
	return u&0xffff == 0 || u&0x7fffffff > 0x7f800000
}

// ULPs returns how many bfloat16 values apart a and b are (0 when equal,
// 1 for neighbours, counting across zero with +0 = −0), after rounding each
// to bfloat16; the GPU-against-emulation tests allow 1. Two NaNs are 0
// apart, a NaN and a number the largest int.
func ULPs(a, b float32) int {
	an, bn := math.IsNaN(float64(a)), math.IsNaN(float64(b))
	switch {
	case an && bn:
		return 0
	case an || bn:
		return math.MaxInt
	}
	d := ordered(FromFloat32(a)) - ordered(FromFloat32(b))
	if d < 0 {
		d = -d
	}
	return d
}

// ordered maps bfloat16 bits to integers in the order of their values
// (sign-magnitude to two's complement), so that neighbours differ by 1.
func ordered(b uint16) int {
	if b&0x8000 != 0 {
		return -int(b & 0x7fff)
	}
	return int(b)
}
