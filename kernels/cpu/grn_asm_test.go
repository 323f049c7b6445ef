package cpu

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// stridedCases are row widths c, strides and row counts that reach every
// step of the assembly kernels (16, 4 and single channels) and their
// combinations, with and without padding between rows.
var stridedCases = func() (cs [][3]int) {
	for _, c := range []int{1, 3, 4, 5, 15, 16, 17, 20, 33, 40, 160} {
		for _, pad := range []int{0, 3} {
			for _, rows := range []int{1, 2, 7} {
				cs = append(cs, [3]int{c, c + pad, rows})
			}
		}
	}
	return cs
}()

// rand32 returns n values in [−scale, scale) rounded to float32, with a
// few zeros, tiny and large values mixed in.
func rand32(seed uint64, n int, scale float64) []float32 {
	v := randVals(seed, n, scale)
	out := make([]float32, n)
	for i, f := range v {
		switch i % 11 {
		case 3:
			f = 0
		case 7:
			f *= 1e-20
		case 9:
			f *= 1e4
		}
		out[i] = float32(f)
	}
	return out
}

// requireAsm skips a test of an assembly kernel in builds without it.
func requireAsm(t *testing.T, has bool) {
	if !has {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
}

// sameBits fails unless got and want are bit-identical.
func sameBits[E float32 | float64](t *testing.T, what string, got, want []E) {
	t.Helper()
	for i := range want {
		if math.Float64bits(float64(got[i])) != math.Float64bits(float64(want[i])) {
			t.Errorf("%s[%d] = %v, want %v (Go)", what, i, got[i], want[i])
			return
		}
	}
}

func TestGRNAsmMatchesGo(t *testing.T) {
	requireAsm(t, hasGRNAsm)
	for i, tc := range stridedCases {
		c, stride, rows := tc[0], tc[1], tc[2]
		name := fmt.Sprintf("c%d_stride%d_rows%d", c, stride, rows)
		n := (rows-1)*stride + c
		seed := uint64(1000 + 10*i)
		x, dy := rand32(seed, n, 2), rand32(seed+1, n, 3)
		a, k := randVals(seed+2, c, 2), randVals(seed+3, c, 1)
		stale := randVals(seed+4, 2*c, 5)

		// The sums overwrite what their outputs held.
		ss, ssGo := slices.Clone(stale[:c]), slices.Clone(stale[c:])
		grnSumSq(ss, x, stride, rows)
		grnSumSqGo(ssGo, x, stride, rows)
		sameBits(t, name+" sum of squares", ss, ssGo)

		sum, sumDy := slices.Clone(stale[:c]), slices.Clone(stale[c:])
		sumGo, sumDyGo := slices.Clone(stale[c:]), slices.Clone(stale[:c])
		grnDot(sum, sumDy, dy, x, stride, rows)
		grnDotGo(sumGo, sumDyGo, dy, x, stride, rows)
		sameBits(t, name+" Σ dy·x", sum, sumGo)
		sameBits(t, name+" Σ dy", sumDy, sumDyGo)
		// The reference in float64 from scratch, to catch a kernel and
		// the Go loop sharing a mistake.
		for j := range c {
			var s2, sd, sdx float64
			for r := range rows {
				v, d := float64(x[r*stride+j]), float64(dy[r*stride+j])
				s2 += v * v
				sd += d
				sdx += d * v
			}
			testutil.AllClose(t, name+" sums vs reference", []float64{ss[j], sumDy[j], sum[j]},
				[]float64{s2, sd, sdx}, 1e-12, 1e-300)
		}

		// Outputs, into fresh buffers (gaps between rows must stay
		// untouched) and in place.
		y, yGo := make([]float32, n), make([]float32, n)
		grnScaleShift(y, x, stride, a, k, rows)
		grnScaleShiftGo(yGo, x, stride, a, k, rows)
		sameBits(t, name+" scale-shift", y, yGo)
		for r := range rows {
			for j := range c {
				want := float32(float64(x[r*stride+j])*a[j] + k[j])
				if y[r*stride+j] != want {
					t.Fatalf("%s: scale-shift y[%d,%d] = %v, want %v", name, r, j, y[r*stride+j], want)
				}
			}
		}
		inPlace, inPlaceGo := slices.Clone(x), slices.Clone(x)
		grnScaleShift(inPlace, inPlace, stride, a, k, rows)
		grnScaleShiftGo(inPlaceGo, inPlaceGo, stride, a, k, rows)
		sameBits(t, name+" scale-shift in place", inPlace, inPlaceGo)

		dx, dxGo := make([]float32, n), make([]float32, n)
		grnGradApply(dx, dy, x, stride, a, k, rows)
		grnGradApplyGo(dxGo, dy, x, stride, a, k, rows)
		sameBits(t, name+" dx", dx, dxGo)
		inPlace, inPlaceGo = slices.Clone(dy), slices.Clone(dy)
		grnGradApply(inPlace, inPlace, x, stride, a, k, rows)
		grnGradApplyGo(inPlaceGo, inPlaceGo, x, stride, a, k, rows)
		sameBits(t, name+" dx in place", inPlace, inPlaceGo)
	}
}

func TestGRNCoefAsmMatchesGo(t *testing.T) {
	requireAsm(t, hasGRNAsm)
	for i, c := range []int{1, 3, 4, 5, 16, 17, 40, 160, 1280, 1283} {
		for _, eps := range []float64{1e-6, 0} {
			name := fmt.Sprintf("c%d_eps%g", c, eps)
			seed := uint64(3000 + 10*i)
			norms := rand32(seed, c, 3) // with zeros: channels whose norm is 0
			ss := make([]float64, c)
			for j, v := range norms {
				norms[j] = float32(math.Abs(float64(v)))
				ss[j] = float64(v) * float64(v) * 7
			}
			gamma := rand32(seed+1, c, 1.5)

			a, aGo := slices.Clone(ss), slices.Clone(ss)
			gn, gnGo := make([]float32, c), make([]float32, c)
			grnCoef(a, gn, gamma, eps)
			grnCoefGo(aGo, gnGo, gamma, eps)
			sameBits(t, name+" forward a", a, aGo)
			sameBits(t, name+" forward g", gn, gnGo)

			sum := randVals(seed+2, c, 4)
			sumGo := slices.Clone(sum)
			ga, k := make([]float64, c), make([]float64, c)
			gaGo, kGo := make([]float64, c), make([]float64, c)
			grnGradCoef(sum, ga, k, norms, gamma, eps)
			grnGradCoefGo(sumGo, gaGo, kGo, norms, gamma, eps)
			sameBits(t, name+" backward a", ga, gaGo)
			sameBits(t, name+" backward k", k, kGo)
			sameBits(t, name+" dgamma share", sum, sumGo)
			for j, v := range norms {
				if v == 0 && math.Float64bits(k[j]) != 0 {
					t.Errorf("%s: k[%d] = %v at a zero norm, want +0", name, j, k[j])
				}
			}
		}
	}
}
