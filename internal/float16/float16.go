// Package float16 converts the 16-bit float formats checkpoints store
// (IEEE-754 binary16 and bfloat16) to float32, exactly.
package float16

import "math"

// HalfToFloat32 converts an IEEE-754 binary16 value (sign, 5-bit exponent,
// 10-bit fraction) exactly, subnormals, infinities and NaN included.
func HalfToFloat32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * float32(math.Ldexp(frac, -24))
	case 31:
		if frac == 0 {
			return sign * float32(math.Inf(1))
		}
		return float32(math.NaN())
	}
	return sign * float32(math.Ldexp(1+frac/1024, exp-15))
}

// BFloat16ToFloat32 converts a bfloat16 value: the upper 16 bits of a
// float32.
func BFloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
