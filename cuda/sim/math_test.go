package sim_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestMathAllowlist(t *testing.T) {
	d := newDriver(t)
	var in []float32
	for i := -40; i <= 40; i++ {
		in = append(in, float32(i)*0.0925)
	}
	in = append(in, 0.5, -0.5, 1.0/9, 2.5/4.5)
	n := len(in)
	x := upload(t, d, in)
	y := alloc(t, d, 16*n, float32(0))
	launch(t, d, "sim_math", dim1((n+31)/32), dim1(32), 0, y, x, int32(n))
	got := download[float32](t, d, y, 16*n)
	names := []string{"expf", "logf", "sqrtf", "rsqrtf", "erff", "tanhf", "fmaxf", "fminf", "fmaf", "__expf",
		"__fdividef", "rintf", "__saturatef", "__float2int_rn", "min/max(int)", "powf"}
	for i, xf := range in {
		x := float64(xf)
		sat := math.Max(0, math.Min(1, x))
		want := []float64{
			math.Exp(x), math.Log(math.Abs(x) + 1), math.Sqrt(math.Abs(x)), 1 / math.Sqrt(math.Abs(x)+1), math.Erf(x),
			math.Tanh(x), math.Max(x, 0.5), math.Min(x, 0.5), x*x + 1, math.Exp(x), x / 3,
			math.RoundToEven(float64(xf * 4.5)), sat, math.RoundToEven(float64(xf * 3.5)),
			math.Max(math.Min(math.Trunc(x), 2), -2), math.Pow(math.Abs(x), 1.5),
		}
		for k, w := range want {
			g := float64(got[16*i+k])
			if math.Abs(g-w) > 1e-6+2e-6*math.Abs(w) {
				t.Errorf("%s(%v) = %v, want %v", names[k], xf, g, w)
			}
		}
	}
}

// f16Value decodes IEEE binary16 bits (positive, finite or the infinity
// 0x7c00, which counts as 65536 for rounding).
func f16Value(h uint16) float64 {
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch {
	case e == 0:
		return math.Ldexp(m, -24)
	case h == 0x7c00:
		return 65536
	default:
		return math.Ldexp(1024+m, e-25)
	}
}

// bf16Value decodes positive bfloat16 bits; the infinity 0x7f80 counts as
// 2^128 for rounding.
func bf16Value(h uint16) float64 {
	if h == 0x7f80 {
		return math.Ldexp(1, 128)
	}
	return float64(math.Float32frombits(uint32(h) << 16))
}

// roundNearestEven returns the bits of the value nearest to |x| among the
// monotonic codes 0..top decoded by value, ties to the even code, with sign.
func roundNearestEven(x float32, top uint16, value func(uint16) float64, sign uint16) uint16 {
	a := math.Abs(float64(x))
	lo := uint16(sort.Search(int(top)+1, func(h int) bool { return value(uint16(h)) > a }) - 1)
	h := lo
	if lo < top {
		dl, dh := a-value(lo), value(lo+1)-a
		if dh < dl || dh == dl && lo&1 == 1 {
			h = lo + 1
		}
	}
	if math.Signbit(float64(x)) {
		h |= sign
	}
	return h
}

// TestHalfConversions checks float -> half and float -> bfloat16 rounding
// (nearest even; NaN -> 0x7fff as in CUDA's cuda_fp16.hpp and cuda_bf16.hpp)
// and the conversions back.
func TestHalfConversions(t *testing.T) {
	d := newDriver(t)
	in := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65519.99, 65520, -70000, float32(math.Inf(1)),
		float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, 5.96e-8, 2.98e-8, 2.99e-8,
		1 + 1.0/2048, 1 + 3.0/2048, 1 + 1.0/256, 1 + 3.0/256, 3.0e38}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		in = append(in, math.Float32frombits(r.Uint32()&0xbfffffff|0x30000000&r.Uint32())) // wide exponent range
		in = append(in, float32(r.NormFloat64()*100))
	}
	n := len(in)
	x := upload(t, d, in)
	h := alloc(t, d, n, uint16(0))
	bf := alloc(t, d, n, uint16(0))
	back := alloc(t, d, 2*n, float32(0))
	launch(t, d, "sim_half_bits", dim1((n+127)/128), dim1(128), 0, h, bf, back, x, int32(n))
	gh := download[uint16](t, d, h, n)
	gbf := download[uint16](t, d, bf, n)
	gback := download[float32](t, d, back, 2*n)
	bad := 0
	for i, v := range in {
		wantH, wantB := uint16(0x7fff), uint16(0x7fff)
		if !math.IsNaN(float64(v)) {
			wantH = roundNearestEven(v, 0x7c00, f16Value, 0x8000)
			wantB = roundNearestEven(v, 0x7f80, bf16Value, 0x8000)
		}
		if (gh[i] != wantH || gbf[i] != wantB) && bad < 10 {
			bad++
			t.Errorf("%v (%#08x): half %#04x bf16 %#04x, want %#04x %#04x", v, math.Float32bits(v), gh[i], gbf[i], wantH, wantB)
		}
		if math.IsNaN(float64(v)) {
			continue
		}
		hb := float32(f16Value(wantH & 0x7fff))
		if wantH&0x7fff == 0x7c00 {
			hb = float32(math.Inf(1))
		}
		if wantH&0x8000 != 0 {
			hb = -hb
		}
		if gback[2*i] != hb || gback[2*i+1] != math.Float32frombits(uint32(wantB)<<16) {
			t.Errorf("%v: back %v %v, want %v %v", v, gback[2*i], gback[2*i+1], hb, math.Float32frombits(uint32(wantB)<<16))
		}
	}
}

// TestBF16Pairs checks the __nv_bfloat162 intrinsics and 16-byte vector
// access to bf16 (sim_bf16_pairs) against round to nearest even computed
// in Go: ties both ways, NaN (0x7fff), ±Inf, overflow to Inf, the largest
// finite bf16, subnormals and zeros, then random values.
func TestBF16Pairs(t *testing.T) {
	d := newDriver(t)
	in := []float32{1 + 1.0/256, 1 + 3.0/256, -(1 + 1.0/256), 1 + 1.0/128 + 1.0/256, float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, 3.3961776e38, 3.3895314e38,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1.1754942e-38, 9.1835e-41, 0,
		float32(math.Copysign(0, -1))}
	r := rand.New(rand.NewPCG(3, 4))
	for len(in)%8 != 0 || len(in) < 1024 {
		in = append(in, math.Float32frombits(r.Uint32()))
	}
	n := len(in)
	x := upload(t, d, in)
	bf := alloc(t, d, n, uint16(0))
	back := alloc(t, d, n, float32(0))
	launch(t, d, "sim_bf16_pairs", dim1((n/8+63)/64), dim1(64), 0, bf, back, x, int32(n/8))
	gbf := download[uint16](t, d, bf, n)
	gback := download[float32](t, d, back, n)
	bad := 0
	for i, v := range in {
		want := uint16(0x7fff)
		if !math.IsNaN(float64(v)) {
			want = roundNearestEven(v, 0x7f80, bf16Value, 0x8000)
		}
		wantBack := math.Float32frombits(uint32(want) << 16)
		if (gbf[i] != want || math.Float32bits(gback[i]) != math.Float32bits(wantBack)) && bad < 10 {
			bad++
			t.Errorf("%v (%#08x): bf16 %#04x back %v, want %#04x %v", v, math.Float32bits(v), gbf[i], gback[i], want, wantBack)
		}
	}
}
