package testutil

import "strings"

// FormulaFill returns the float32 values scripts/golden/efficient.py gives
// the tensor named name of the given shape (row-major, PyTorch's order), so
// that golden tests rebuild a timm checkpoint bit for bit instead of
// committing its weights. Element i draws z = seed + (i+1)·0x9E3779B97F4A7C15
// with seed the FNV-1a-64 hash of name, mixed by SplitMix64's finaliser;
// u = ((z>>40) − 2^23)/2^23 ∈ [−1, 1). Tensors of two or more dimensions get
// gain·u·2^−e, e = (bit_length(fan_in) − 1)/2 with fan_in the product of the
// dimensions after the first; 1-D ones running_var 0.5 + 0.25·(u+1),
// running_mean 0.1·u, other weights 1 + 0.25·u, the rest 0.1·u. Every value
// is computed in float64 and rounded once to float32, as the script does.
func FormulaFill(name string, shape []int, gain float64) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	seed := fnv1a64(name)
	scale := 1.0
	if len(shape) >= 2 {
		fanIn := n / shape[0]
		bits := 0
		for v := fanIn; v > 0; v >>= 1 {
			bits++
		}
		scale = gain
		for range (bits - 1) / 2 {
			scale /= 2
		}
	}
	out := make([]float32, n)
	for i := range out {
		u := formulaU(seed, i)
		var v float64
		switch {
		case len(shape) >= 2:
			v = scale * u
		case strings.HasSuffix(name, "running_var"):
			v = 0.5 + 0.25*(u+1)
		case strings.HasSuffix(name, "running_mean"):
			v = 0.1 * u
		case strings.HasSuffix(name, ".weight"):
			v = 1 + 0.25*u
		default:
			v = 0.1 * u
		}
		out[i] = float32(v)
	}
	return out
}

// FormulaInput returns n values u ∈ [−1, 1) of the formula's stream for
// name, unscaled: the input images of scripts/golden/efficient.py (name
// "input", NCHW order).
func FormulaInput(name string, n int) []float32 {
	seed := fnv1a64(name)
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(formulaU(seed, i))
	}
	return out
}

// fnv1a64 is the 64-bit FNV-1a hash of s's bytes.
func fnv1a64(s string) uint64 {
	h := uint64(0xCBF29CE484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001B3
	}
	return h
}

// formulaU returns element i of the stream seeded by seed: SplitMix64's
// finaliser of seed + (i+1)·0x9E3779B97F4A7C15, top 24 bits, mapped to
// [−1, 1) exactly.
func formulaU(seed uint64, i int) float64 {
	z := seed + uint64(i+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(int64(z>>40)-1<<23) / (1 << 23)
}
