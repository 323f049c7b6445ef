// Package testutil holds helpers shared by nextconv's tests: closeness checks
// with useful failure reports, central finite differences and seeded random
// data.
package testutil

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Float is float32 or float64.
type Float interface{ ~float32 | ~float64 }

// Mismatch describes how far got is from want under |got−want| <= atol +
// rtol·|want|.
type Mismatch struct {
	Count          int     // elements outside the tolerance
	Worst          int     // index of the element with the largest excess
	MaxAbs, MaxRel float64 // largest absolute and relative errors
	First          []string
}

// Option changes how Compare and AllClose treat special values.
type Option int

// NaNEqual makes a NaN in got match a NaN at the same index of want. Without
// it NaN equals nothing, NaN included, so a GPU result and a CPU reference
// that both went NaN fail the comparison. Pass it only where a test means
// NaN to propagate, e.g. a NaN input checked to stay NaN.
const NaNEqual Option = 1

// Compare checks every element of got against want with the rule
// |got−want| <= atol + rtol·|want| (llm.c's and numpy.allclose's); equal
// values, infinities included, always match, and an infinity matches only
// itself whatever the tolerance. NaN in either is a mismatch,
// even when both are NaN, unless opts holds NaNEqual. It returns nil when
// all match.
func Compare[T, U Float](got []T, want []U, rtol, atol float64, opts ...Option) *Mismatch {
	if len(got) != len(want) {
		return &Mismatch{Count: -1, First: []string{fmt.Sprintf("length %d, want %d", len(got), len(want))}}
	}
	nanEqual := slices.Contains(opts, NaNEqual)
	m := Mismatch{Worst: -1}
	worstExcess := -1.0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if g == w || nanEqual && math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		d := math.Abs(g - w)
		if d > m.MaxAbs || math.IsNaN(d) {
			m.MaxAbs = d
		}
		if w != 0 {
			m.MaxRel = max(m.MaxRel, d/math.Abs(w))
		}
		tol := atol + rtol*math.Abs(w)
		if d <= tol && !math.IsInf(w, 0) {
			continue
		}
		m.Count++
		if excess := d - tol; excess > worstExcess || math.IsNaN(d) {
			worstExcess, m.Worst = excess, i
		}
		if len(m.First) < 5 {
			m.First = append(m.First, fmt.Sprintf("[%d] got %.9g want %.9g", i, g, w))
		}
	}
	if m.Count == 0 {
		return nil
	}
	return &m
}

// String summarises the mismatch.
func (m *Mismatch) String() string {
	if m.Count < 0 {
		return m.First[0]
	}
	return fmt.Sprintf("%d elements out of tolerance (max abs %.3g, max rel %.3g, worst at %d): %s",
		m.Count, m.MaxAbs, m.MaxRel, m.Worst, strings.Join(m.First, "; "))
}

// AllClose reports a test error naming what if got and want differ beyond
// |got−want| <= atol + rtol·|want| (NaN as Compare treats it, opts
// included), and returns whether they matched.
func AllClose[T, U Float](t testing.TB, what string, got []T, want []U, rtol, atol float64, opts ...Option) bool {
	t.Helper()
	if m := Compare(got, want, rtol, atol, opts...); m != nil {
		t.Errorf("%s: %v", what, m)
		return false
	}
	return true
}

// NumGrad returns the central-difference gradient (f(x+h) − f(x−h)) / 2h of
// the scalar function f with respect to every element of x. It perturbs x in
// place and restores each element before moving on; f must read x afresh on
// every call.
func NumGrad(x []float64, h float64, f func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + h
		fp := f()
		x[i] = old - h
		fm := f()
		x[i] = old
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// Rand returns n values drawn uniformly from [−scale, scale) by rng.
func Rand(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return v
}

// Rand64 is Rand in float64.
func Rand64(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = (2*rng.Float64() - 1) * scale
	}
	return v
}

// NewRand returns a PCG generator seeded with seed, for reproducible tests.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }
