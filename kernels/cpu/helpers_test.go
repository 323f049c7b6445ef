package cpu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// newT returns a tensor of backend b with shape s holding vals (converted to
// the backend's dtype), or zeros if vals is nil.
func newT(t testing.TB, b *Backend, s kernels.Shape, vals []float64) kernels.Tensor {
	t.Helper()
	x, err := b.Alloc(s)
	if err != nil {
		t.Fatal(err)
	}
	if vals == nil {
		return x
	}
	if len(vals) != s.Len() {
		t.Fatalf("newT: %d values for shape %v", len(vals), s)
	}
	switch d := x.Data.(type) {
	case kernels.F32:
		for i, v := range vals {
			d[i] = float32(v)
		}
	case kernels.F64:
		copy(d, vals)
	}
	return x
}

// vals returns a copy of t's elements as float64.
func vals(t kernels.Tensor) []float64 {
	switch d := t.Data.(type) {
	case kernels.F32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case kernels.F64:
		return append([]float64(nil), d...)
	}
	return nil
}

// dot returns Σ a·b.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// sub returns a − b.
func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// randVals returns n uniform values in [−scale, scale) from a seeded source,
// rounded to float32 so that both backends see exactly the same inputs.
func randVals(seed uint64, n int, scale float64) []float64 {
	v := testutil.Rand64(testutil.NewRand(seed), n, scale)
	for i := range v {
		v[i] = float64(float32(v[i]))
	}
	return v
}

// gradStep is the central-difference step of the float64 gradient checks.
const gradStep = 1e-6

// checkGrad compares an analytic gradient with the central difference of f
// with respect to the float64 storage x (perturbed in place).
func checkGrad(t *testing.T, what string, x kernels.Tensor, analytic []float64, f func() float64) {
	t.Helper()
	num := testutil.NumGrad(x.Host64(), gradStep, f)
	testutil.AllClose(t, what, analytic, num, 1e-6, 1e-8)
}

// wantErr checks that err wraps target and mentions every fragment.
func wantErr(t *testing.T, what string, err, target error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, target)
		return
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: error %q does not wrap %v", what, err, target)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not mention %q", what, err, f)
		}
	}
}

// allFinite reports whether every value is finite.
func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// backends returns the float32 and float64 CPU backends, for tests that run
// on both.
func backends() []*Backend { return []*Backend{New(), New64()} }

// roundTo32 rounds every value to float32 precision, so that a float64
// reference sees exactly the inputs a float32 backend does.
func roundTo32(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(float32(x))
	}
	return out
}
