package float16

import (
	"math"
	"testing"
)

// TestConversions checks exact values at the edges of both formats.
func TestConversions(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: float32(math.Ldexp(1, -24)), 0x8000: 0,
		0x03ff: float32(math.Ldexp(1023, -24)), 0x3555: 0.333251953125, 0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	} {
		if got := HalfToFloat32(h); got != want {
			t.Errorf("HalfToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
	if got := HalfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("HalfToFloat32(0x7e00) = %v, want NaN", got)
	}
	for b, want := range map[uint16]float32{0x3f80: 1, 0xc0a0: -5, 0x3eab: 0.333984375} {
		if got := BFloat16ToFloat32(b); got != want {
			t.Errorf("BFloat16ToFloat32(%#04x) = %v, want %v", b, got, want)
		}
	}
}
