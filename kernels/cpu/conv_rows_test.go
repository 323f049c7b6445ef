package cpu

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// TestRowKernels checks mulAddRows and dotAddRows (the AVX2 kernels on
// amd64) against float64 loops for every channel count up to 70, covering
// the 32-, 8- and 1-wide parts, strided rows and odd row counts.
func TestRowKernels(t *testing.T) {
	rng := testutil.NewRand(5)
	for c := 1; c <= 70; c++ {
		for _, rows := range []int{1, 2, 3, 7} {
			ys, xs := c+3, 2*c+1
			y := testutil.Rand(rng, (rows-1)*ys+c, 1)
			x := testutil.Rand(rng, (rows-1)*xs+c, 1)
			w := testutil.Rand(rng, c, 1)
			want := make([]float64, len(y))
			for i, v := range y {
				want[i] = float64(v)
			}
			acc := testutil.Rand(rng, c, 1)
			wantAcc := make([]float64, c)
			for i := range c {
				wantAcc[i] = float64(acc[i])
				for r := range rows {
					want[r*ys+i] += float64(x[r*xs+i]) * float64(w[i])
					wantAcc[i] += float64(y[r*ys+i]) * float64(x[r*xs+i])
				}
			}
			// dotAddRows reads y before mulAddRows changes it.
			dotAddRows(acc, y, ys, x, xs, rows)
			mulAddRows(y, ys, x, xs, w, rows)
			if m := testutil.Compare(y, want, 1e-6, 1e-6); m != nil {
				t.Errorf("mulAddRows c=%d rows=%d: %v", c, rows, m)
			}
			if m := testutil.Compare(acc, wantAcc, 1e-5, 1e-5); m != nil {
				t.Errorf("dotAddRows c=%d rows=%d: %v", c, rows, m)
			}
		}
	}
}
