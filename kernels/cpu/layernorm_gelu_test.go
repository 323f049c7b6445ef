package cpu

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestLayerNormGELUMatchesComposition(t *testing.T) {
	// The fused op equals LayerNorm followed by GELU, on both backends.
	for _, b := range backends() {
		for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
			s := kernels.NormShape{Rows: 23, C: 9, Eps: 1e-6}
			x, w, bias := lnInputs(b, t, s, 51)
			rc, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.Rows}
			y, mean, rstd := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
			must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
			must(t, b.GELU(y, y, a))
			yf, mf, rf := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
			must(t, b.LayerNormGELU(yf, mf, rf, x, w, bias, s, a))
			// float32: the fused op keeps the pre-activation in float64.
			testutil.AllClose(t, b.Name()+" layernorm-gelu "+a.String(), vals(yf), vals(y), 1e-6, 1e-7)
			testutil.AllClose(t, b.Name()+" layernorm-gelu mean", vals(mf), vals(mean), 0, 0)
			testutil.AllClose(t, b.Name()+" layernorm-gelu rstd", vals(rf), vals(rstd), 0, 0)
		}
	}
}

func TestLayerNormGELUGradient(t *testing.T) {
	b := New64()
	for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		for _, s := range []kernels.NormShape{{Rows: 2 * 35, C: 3, Eps: 1e-6}, {Rows: 4, C: 12, Eps: 1e-5}} {
			x, w, bias := lnInputs(b, t, s, 61)
			rc, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.Rows}
			y, mean, rstd := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
			rv := randVals(62, s.Rows*s.C, 1)
			loss := func() float64 {
				must(t, b.LayerNormGELU(y, mean, rstd, x, w, bias, s, a))
				return dot(vals(y), rv)
			}
			loss()
			pre := randVals(63, 2*s.C, 1)
			dy, dx := newT(t, b, rc, rv), newT(t, b, rc, nil)
			dw, db := newT(t, b, kernels.Shape{s.C}, pre[:s.C]), newT(t, b, kernels.Shape{s.C}, pre[s.C:])
			must(t, b.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias, s, a))
			what := "layernorm-gelu " + a.String()
			checkGrad(t, what+" dx", x, vals(dx), loss)
			checkGrad(t, what+" dw", w, sub(vals(dw), pre[:s.C]), loss)
			checkGrad(t, what+" db", bias, sub(vals(db), pre[s.C:]), loss)

			// dx may alias dy.
			loss()
			must(t, b.LayerNormGELUBackward(dy, newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil), dy, x, mean, rstd, w, bias, s, a))
			testutil.AllClose(t, what+" dx aliasing dy", vals(dy), vals(dx), 0, 0)
		}
	}
}

func TestLayerNormGELUFloat32MatchesFloat64(t *testing.T) {
	s := kernels.NormShape{Rows: 200, C: 48, Eps: 1e-6}
	agree(t, "layernorm-gelu f32 vs f64", 1e-5, 1e-6, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, w, bias := lnInputs(b, t, s, 71)
		rc, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.Rows}
		y, mean, rstd := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
		return []kernels.Tensor{y}, func() error { return b.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUErf) }
	})
	agree(t, "layernorm-gelu backward f32 vs f64", 1e-4, 1e-5, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, w, bias := lnInputs(b, t, s, 72)
		rc, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.Rows}
		y, mean, rstd := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
		dy, dx := newT(t, b, rc, randVals(73, s.Rows*s.C, 1)), newT(t, b, rc, nil)
		dw, db := newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil)
		return []kernels.Tensor{dx, dw, db}, func() error {
			if err := b.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUErf); err != nil {
				return err
			}
			return b.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias, s, kernels.GELUErf)
		}
	})
}

func TestLayerNormGELUErrors(t *testing.T) {
	b := New()
	s := kernels.NormShape{Rows: 4, C: 3, Eps: 1e-6}
	x, w, bias := lnInputs(b, t, s, 81)
	y, mean, rstd := newT(t, b, kernels.Shape{4, 3}, nil), newT(t, b, kernels.Shape{4}, nil), newT(t, b, kernels.Shape{4}, nil)
	wantErr(t, "bad C", b.LayerNormGELU(y, mean, rstd, x, w, bias, kernels.NormShape{Rows: 4, C: -3}, kernels.GELUErf), kernels.ErrShape, "layernorm-gelu", "C")
	wantErr(t, "wrong mean", b.LayerNormGELU(y, rstd, newT(t, b, kernels.Shape{5}, nil), x, w, bias, s, kernels.GELUErf), kernels.ErrShape, "rstd", "[5]", "[4]")
	wantErr(t, "backward nil b", b.LayerNormGELUBackward(y, w, bias, y, x, mean, rstd, w, kernels.Tensor{}, s, kernels.GELUErf), kernels.ErrShape, "layernorm-gelu backward", "b is missing")
	wantErr(t, "backward float64 dw", b.LayerNormGELUBackward(y, newT(t, New64(), kernels.Shape{3}, nil), bias, y, x, mean, rstd, w, bias, s, kernels.GELUTanh), kernels.ErrDType, "dw")
	if err := b.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUApprox(9)); err == nil {
		t.Error("unknown GELU approximation accepted")
	}
}
