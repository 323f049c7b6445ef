package testutil

import (
	"math"
	"testing"
)

func TestCompareSpecialValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name      string
		got, want []float64
		opts      []Option
		mismatch  int
	}{
		{"equal", []float64{1, -2, 0}, []float64{1, -2, 0}, nil, 0},
		{"within tolerance", []float64{1.001}, []float64{1}, nil, 0},
		{"outside tolerance", []float64{1.1, 1}, []float64{1, 1}, nil, 1},
		{"NaN vs NaN", []float64{nan, 1}, []float64{nan, 1}, nil, 1},
		{"NaN vs NaN, NaNEqual", []float64{nan, 1}, []float64{nan, 1}, []Option{NaNEqual}, 0},
		{"NaN vs number, NaNEqual", []float64{nan, 1}, []float64{1, nan}, []Option{NaNEqual}, 2},
		{"equal infinities", []float64{inf, -inf}, []float64{inf, -inf}, nil, 0},
		{"infinity vs number", []float64{inf, 1e300}, []float64{1e300, inf}, nil, 2},
		{"opposite infinities", []float64{inf}, []float64{-inf}, nil, 1},
	} {
		m := Compare(c.got, c.want, 1e-2, 0, c.opts...)
		n := 0
		if m != nil {
			n = m.Count
		}
		if n != c.mismatch {
			t.Errorf("%s: %d mismatches (%v), want %d", c.name, n, m, c.mismatch)
		}
	}
}
