package bfloat16

import (
	"math"
	"testing"
)

// golden lists {float32 bits, bfloat16 bits} as PyTorch 1.13 converts them
// (torch.Tensor.bfloat16, printed by scripts/golden/bfloat16.py): ties to
// even and odd, just below and above a tie, subnormals, the largest finite
// float32 (to Inf) and the tie below it.
var golden = [][2]uint32{
	{0x3f800000, 0x3f80}, {0xbf800000, 0xbf80}, {0x00000000, 0x0000}, {0x80000000, 0x8000},
	{0x3f808000, 0x3f80}, {0x3f80c000, 0x3f81}, {0x3f810000, 0x3f81}, {0x3f818000, 0x3f82},
	{0x7f7fffff, 0x7f80}, {0x7f7f0000, 0x7f7f}, {0x7f7f8000, 0x7f80}, {0x7f800000, 0x7f80},
	{0xff800000, 0xff80}, {0x00000001, 0x0000}, {0x007fffff, 0x0080}, {0x00800000, 0x0080},
	{0x00010000, 0x0001}, {0x000100fd, 0x0001}, {0xc0200000, 0xc020}, {0x3dcccccd, 0x3dcd},
	{0x40490fdb, 0x4049}, {0x477fe000, 0x4780}, {0x000116c2, 0x0001}, {0x003ffeaf, 0x0040},
	{0x3f807fff, 0x3f80}, {0x3f808001, 0x3f81}, {0x00008000, 0x0000}, {0x00018000, 0x0002},
	{0x7f7f7fff, 0x7f7f}, {0x80008000, 0x8000}, {0xbf818000, 0xbf82},
}

// TestGolden checks FromFloat32 and Round against PyTorch's conversions.
func TestGolden(t *testing.T) {
	for _, g := range golden {
		x := math.Float32frombits(g[0])
		if got := FromFloat32(x); got != uint16(g[1]) {
			t.Errorf("FromFloat32(%#08x = %g) = %#04x, PyTorch %#04x", g[0], x, got, g[1])
		}
		if got, want := Round(x), math.Float32frombits(g[1]<<16); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("Round(%#08x = %g) = %g, want %g", g[0], x, got, want)
		}
	}
}

// TestNaN checks that every NaN, quiet or signalling, either sign, stays a
// NaN (and is not rounded into an infinity by the carry).
func TestNaN(t *testing.T) {
	for _, u := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff80ffff, 0x7f808000} {
		x := math.Float32frombits(u)
		if b := FromFloat32(x); !math.IsNaN(float64(ToFloat32(b))) {
			t.Errorf("FromFloat32(%#08x) = %#04x, not a NaN", u, b)
		}
		if r := Round(x); !math.IsNaN(float64(r)) {
			t.Errorf("Round(%#08x) = %g, not a NaN", u, r)
		}
	}
}

// TestExhaustiveRoundTrip checks every one of the 65,536 bfloat16 values:
// ToFloat32 puts the bits on top, and a non-NaN value converts back to
// itself and is Representable.
func TestExhaustiveRoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		b := uint16(i)
		x := ToFloat32(b)
		if math.Float32bits(x) != uint32(b)<<16 {
			t.Fatalf("ToFloat32(%#04x) = %#08x", b, math.Float32bits(x))
		}
		if math.IsNaN(float64(x)) {
			continue
		}
		if got := FromFloat32(x); got != b {
			t.Fatalf("FromFloat32(ToFloat32(%#04x)) = %#04x", b, got)
		}
		if !Representable(x) || Round(x) != x {
			t.Fatalf("%#04x: Representable %v, Round %g", b, Representable(x), Round(x))
		}
	}
}

// TestNearestEven checks Round against an independent definition on float32
// bit patterns strided over the whole range: the result is one of the two
// neighbouring bfloat16 values, the nearer in float64 arithmetic, the even
// one at a tie, and Inf only past the largest finite value's halfway point.
func TestNearestEven(t *testing.T) {
	const stride = 9973 // prime, so every low-bit pattern is visited
	for u := uint64(0); u < 1<<32; u += stride {
		x := math.Float32frombits(uint32(u))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		lo := math.Float32frombits(uint32(u) &^ 0xffff) // toward zero
		hiBits := (uint32(u) &^ 0xffff) + 0x10000       // away from zero, next magnitude
		hi := math.Float32frombits(hiBits)
		hi64 := float64(hi)
		if math.IsInf(hi64, 0) { // the step past the largest finite value
			hi64 = math.Copysign(math.Ldexp(1, 128), hi64)
		}
		dl := math.Abs(float64(x) - float64(lo))
		dh := math.Abs(hi64 - float64(x))
		want := lo
		if dh < dl || (dh == dl && (uint32(u)>>16)&1 == 1) {
			want = hi
		}
		if got := Round(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("Round(%#08x = %g) = %g, want %g", uint32(u), x, got, want)
		}
	}
}

// TestULPs checks the distance in bfloat16 steps, across zero and to
// infinity included.
func TestULPs(t *testing.T) {
	next := func(x float32) float32 { return ToFloat32(FromFloat32(x) + 1) }
	nan := float32(math.NaN())
	for _, c := range []struct {
		a, b float32
		want int
	}{
		{1, 1, 0}, {1, next(1), 1}, {next(1), 1, 1}, {1, next(next(1)), 2},
		{0, float32(math.Copysign(0, -1)), 0}, {ToFloat32(1), ToFloat32(0x8001), 2},
		{ToFloat32(0x7f7f), float32(math.Inf(1)), 1}, {nan, nan, 0}, {nan, 1, math.MaxInt},
		{-1, 1, 2 * 0x3f80},
	} {
		if got := ULPs(c.a, c.b); got != c.want {
			t.Errorf("ULPs(%g, %g) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
