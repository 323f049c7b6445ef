package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// normAffineT writes u = LayerNorm's output recomputed from the saved mean
// and rstd, as LayerNormGELUBackward does.
func normAffineT[T Float](u, mean, rstd, x, w, bias kernels.Tensor) {
	wb := normParams(host[T](w), host[T](bias))
	defer putF64(wb)
	C := len(host[T](w))
	normAffineRows(host[T](u), host[T](mean), host[T](rstd), host[T](x), (*wb)[:C], (*wb)[C:])
}

func TestLayerNormGELUMatchesComposition(t *testing.T) {
	// The fused op runs the same row kernels as LayerNorm followed by GELU
	// (forward) and GELUBackward followed by LayerNormBackward on the u
	// recomputed from the saved statistics (backward), so the results are
	// bit-identical on both backends. 2100 rows make rowReduce blocks of 66
	// rows, which the backward takes in several pieces.
	for _, b := range backends() {
		for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
			for _, s := range []kernels.NormShape{{Rows: 23, C: 9, Eps: 1e-6}, {Rows: 2100, C: 8, Eps: 1e-5}} {
				what := fmt.Sprintf("%s layernorm-gelu %v %dx%d", b.Name(), a, s.Rows, s.C)
				x, w, bias := lnInputs(b, t, s, 51)
				rc, r, c := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.Rows}, kernels.Shape{s.C}
				y, mean, rstd := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
				must(t, b.LayerNorm(y, mean, rstd, x, w, bias, s))
				must(t, b.GELU(y, y, a))
				yf, mf, rf := newT(t, b, rc, nil), newT(t, b, r, nil), newT(t, b, r, nil)
				must(t, b.LayerNormGELU(yf, mf, rf, x, w, bias, s, a))
				testutil.AllClose(t, what+" y", vals(yf), vals(y), 0, 0)
				testutil.AllClose(t, what+" mean", vals(mf), vals(mean), 0, 0)
				testutil.AllClose(t, what+" rstd", vals(rf), vals(rstd), 0, 0)

				u := newT(t, b, rc, nil)
				if b.dt == kernels.Float64 {
					normAffineT[float64](u, mean, rstd, x, w, bias)
				} else {
					normAffineT[float32](u, mean, rstd, x, w, bias)
				}
				pre := randVals(52, 2*s.C, 1)
				dy, du, dx := newT(t, b, rc, randVals(53, s.Rows*s.C, 1)), newT(t, b, rc, nil), newT(t, b, rc, nil)
				dw, db := newT(t, b, c, pre[:s.C]), newT(t, b, c, pre[s.C:])
				must(t, b.GELUBackward(du, dy, u, a))
				must(t, b.LayerNormBackward(dx, dw, db, du, x, mean, rstd, w, s))
				dxf, dwf, dbf := newT(t, b, rc, nil), newT(t, b, c, pre[:s.C]), newT(t, b, c, pre[s.C:])
				must(t, b.LayerNormGELUBackward(dxf, dwf, dbf, dy, x, mean, rstd, w, bias, s, a))
				testutil.AllClose(t, what+" dx", vals(dxf), vals(dx), 0, 0)
				testutil.AllClose(t, what+" dw", vals(dwf), vals(dw), 0, 0)
				testutil.AllClose(t, what+" db", vals(dbf), vals(db), 0, 0)
			}
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
