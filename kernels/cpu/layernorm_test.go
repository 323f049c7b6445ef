package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestLayerNormHandValues(t *testing.T) {
	for _, b := range backends() {
		s := kernels.NormShape{Rows: 2, C: 4, Eps: 0}
		x := newT(t, b, kernels.Shape{2, 4}, []float64{1, 2, 3, 4, -2, -2, 6, 6})
		w := newT(t, b, kernels.Shape{4}, []float64{1, 2, 1, 0.5})
		bias := newT(t, b, kernels.Shape{4}, []float64{0, 1, 0, -1})
		y, mean, rstd := newT(t, b, kernels.Shape{2, 4}, nil), newT(t, b, kernels.Shape{2}, nil), newT(t, b, kernels.Shape{2}, nil)
		must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
		// Row 0: mean 2.5, biased var 1.25; row 1: mean 2, var 16.
		r0 := 1 / math.Sqrt(1.25)
		want := []float64{
			-1.5 * r0, 2*(-0.5*r0) + 1, 0.5 * r0, 0.5*(1.5*r0) - 1,
			-1, 2*(-1) + 1, 1, 0.5*1 - 1,
		}
		testutil.AllClose(t, b.Name()+" y", vals(y), want, 1e-6, 1e-7)
		testutil.AllClose(t, b.Name()+" mean", vals(mean), []float64{2.5, 2}, 1e-7, 0)
		testutil.AllClose(t, b.Name()+" rstd", vals(rstd), []float64{r0, 0.25}, 1e-7, 0)
	}
}

func TestLayerNormEps(t *testing.T) {
	// A constant row has variance 0, so rstd = 1/sqrt(eps) and y = b.
	b := New64()
	s := kernels.NormShape{Rows: 1, C: 3, Eps: 1e-6}
	x := newT(t, b, kernels.Shape{1, 3}, []float64{5, 5, 5})
	w := newT(t, b, kernels.Shape{3}, []float64{1, 1, 1})
	bias := newT(t, b, kernels.Shape{3}, []float64{0.5, 0, -0.5})
	y, mean, rstd := newT(t, b, kernels.Shape{1, 3}, nil), newT(t, b, kernels.Shape{1}, nil), newT(t, b, kernels.Shape{1}, nil)
	must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
	testutil.AllClose(t, "y", vals(y), []float64{0.5, 0, -0.5}, 0, 0)
	testutil.AllClose(t, "rstd", vals(rstd), []float64{1000}, 1e-12, 0)
}

// lnInputs returns random LayerNorm inputs: x around an offset (so the mean
// matters), w around 1 and b around 0.
func lnInputs(b *Backend, t testing.TB, s kernels.NormShape, seed uint64) (x, w, bias kernels.Tensor) {
	xv := randVals(seed, s.Rows*s.C, 2)
	for i := range xv {
		xv[i] += 0.7
	}
	wv := randVals(seed+1, s.C, 0.5)
	for i := range wv {
		wv[i] += 1
	}
	return newT(t, b, kernels.Shape{s.Rows, s.C}, xv), newT(t, b, kernels.Shape{s.C}, wv),
		newT(t, b, kernels.Shape{s.C}, randVals(seed+2, s.C, 0.5))
}

func TestLayerNormGradient(t *testing.T) {
	b := New64()
	for _, s := range []kernels.NormShape{{Rows: 2 * 35, C: 3, Eps: 1e-6}, {Rows: 5, C: 1, Eps: 1e-3}, {Rows: 3, C: 17, Eps: 1e-6}} {
		x, w, bias := lnInputs(b, t, s, 11)
		rc := kernels.Shape{s.Rows, s.C}
		y, mean, rstd := newT(t, b, rc, nil), newT(t, b, kernels.Shape{s.Rows}, nil), newT(t, b, kernels.Shape{s.Rows}, nil)
		r := randVals(12, s.Rows*s.C, 1)
		loss := func() float64 {
			must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
			return dot(vals(y), r)
		}
		loss()
		dy := newT(t, b, rc, r)
		dx := newT(t, b, rc, nil)
		pre := randVals(13, 2*s.C, 1) // dw and db accumulate onto these
		dw, db := newT(t, b, kernels.Shape{s.C}, pre[:s.C]), newT(t, b, kernels.Shape{s.C}, pre[s.C:])
		must(t, b.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s))
		checkGrad(t, "layernorm dx", x, vals(dx), loss)
		checkGrad(t, "layernorm dw", w, sub(vals(dw), pre[:s.C]), loss)
		checkGrad(t, "layernorm db", bias, sub(vals(db), pre[s.C:]), loss)

		// dx may alias dy.
		must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
		dy2 := newT(t, b, rc, r)
		must(t, b.LayerNormBackward(dy2, newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil), dy2, x, mean, rstd, w, s))
		testutil.AllClose(t, "layernorm dx aliasing dy", vals(dy2), vals(dx), 0, 0)
	}
}

// agree runs op on the float32 and the float64 backend with the same inputs
// (built by mk) and compares every output tensor.
func agree(t *testing.T, what string, rtol, atol float64, mk func(b *Backend) (outs []kernels.Tensor, run func() error)) {
	t.Helper()
	o32, run32 := mk(New())
	o64, run64 := mk(New64())
	must(t, run32())
	must(t, run64())
	for i := range o32 {
		testutil.AllClose(t, what, vals(o32[i]), vals(o64[i]), rtol, atol)
	}
}

func TestLayerNormFloat32MatchesFloat64(t *testing.T) {
	s := kernels.NormShape{Rows: 300, C: 40, Eps: 1e-6}
	agree(t, "layernorm f32 vs f64", 1e-5, 1e-6, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, w, bias := lnInputs(b, t, s, 21)
		y, mean, rstd := newT(t, b, kernels.Shape{s.Rows, s.C}, nil), newT(t, b, kernels.Shape{s.Rows}, nil), newT(t, b, kernels.Shape{s.Rows}, nil)
		return []kernels.Tensor{y, mean, rstd}, func() error { return b.LayerNorm(y, mean, rstd, x, w, bias, s) }
	})
	agree(t, "layernorm backward f32 vs f64", 1e-4, 1e-5, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, w, bias := lnInputs(b, t, s, 22)
		rc := kernels.Shape{s.Rows, s.C}
		y, mean, rstd := newT(t, b, rc, nil), newT(t, b, kernels.Shape{s.Rows}, nil), newT(t, b, kernels.Shape{s.Rows}, nil)
		dy, dx := newT(t, b, rc, randVals(23, s.Rows*s.C, 1)), newT(t, b, rc, nil)
		dw, db := newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil)
		return []kernels.Tensor{dx, dw, db}, func() error {
			if err := b.LayerNorm(y, mean, rstd, x, w, bias, s); err != nil {
				return err
			}
			return b.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s)
		}
	})
}

func TestLayerNormInPlace(t *testing.T) {
	b := New()
	s := kernels.NormShape{Rows: 7, C: 5, Eps: 1e-6}
	x, w, bias := lnInputs(b, t, s, 31)
	y, mean, rstd := newT(t, b, kernels.Shape{7, 5}, nil), newT(t, b, kernels.Shape{7}, nil), newT(t, b, kernels.Shape{7}, nil)
	must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
	must(t, b.LayerNorm(x, mean, rstd, x, w, bias, s))
	testutil.AllClose(t, "layernorm y aliasing x", vals(x), vals(y), 0, 0)
}

func TestLayerNormErrors(t *testing.T) {
	b := New()
	s := kernels.NormShape{Rows: 4, C: 3, Eps: 1e-6}
	x, w, bias := lnInputs(b, t, s, 41)
	y, mean, rstd := newT(t, b, kernels.Shape{4, 3}, nil), newT(t, b, kernels.Shape{4}, nil), newT(t, b, kernels.Shape{4}, nil)
	wantErr(t, "bad shape struct", b.LayerNorm(y, mean, rstd, x, w, bias, kernels.NormShape{Rows: 0, C: 3}), kernels.ErrShape, "cpu layernorm", "Rows")
	wantErr(t, "negative eps", b.LayerNorm(y, mean, rstd, x, w, bias, kernels.NormShape{Rows: 4, C: 3, Eps: -1}), kernels.ErrShape, "eps")
	wantErr(t, "wrong y", b.LayerNorm(newT(t, b, kernels.Shape{4, 4}, nil), mean, rstd, x, w, bias, s), kernels.ErrShape, "cpu layernorm", "y", "[4 4]", "[4 3]")
	wantErr(t, "nil w", b.LayerNorm(y, mean, rstd, x, kernels.Tensor{}, bias, s), kernels.ErrShape, "w is missing")
	wantErr(t, "wrong rstd", b.LayerNorm(y, mean, newT(t, b, kernels.Shape{3}, nil), x, w, bias, s), kernels.ErrShape, "rstd")
	x64 := newT(t, New64(), kernels.Shape{4, 3}, nil)
	wantErr(t, "float64 x", b.LayerNorm(y, mean, rstd, x64, w, bias, s), kernels.ErrDType, "x", "float64")
	wantErr(t, "backward nil dy", b.LayerNormBackward(y, w, bias, kernels.Tensor{}, x, mean, rstd, w, s), kernels.ErrShape, "layernorm backward", "dy")
	wantErr(t, "backward wrong dw", b.LayerNormBackward(y, mean, bias, y, x, mean, rstd, w, s), kernels.ErrShape, "dw", "[4]", "[3]")
	// A tensor whose storage is not host memory of this backend is refused.
	foreign := kernels.Tensor{Shape: kernels.Shape{3}, Data: fakeStorage{n: 3}}
	wantErr(t, "foreign storage", b.LayerNorm(y, mean, rstd, x, foreign, bias, s), kernels.ErrDType, "w", "host storage")
}

// fakeStorage is a float32 storage that is not host memory.
type fakeStorage struct{ n int }

func (f fakeStorage) Len() int                         { return f.n }
func (f fakeStorage) DType() kernels.DType             { return kernels.Float32 }
func (f fakeStorage) Slice(off, n int) kernels.Storage { return fakeStorage{n: n} }
