package cpu

import (
	"github.com/nextconv/nextconv/kernels"
)

// LayerNormGELU computes y = GELU(u), u = LayerNorm(x) = (x − mean)·rstd·w + b,
// for x [Rows, C], and writes mean and rstd [Rows] as LayerNorm does; u is
// not stored. It runs LayerNorm's and GELU's row kernels on blocks of rows
// that stay in cache, so y, mean and rstd are bit-identical to
// [Backend.LayerNorm] followed by [Backend.GELU] with approx (on the
// float32 backend u is rounded to float32 in between, as there). y may
// alias x. Shapes and errors as for LayerNorm, plus an error for an unknown
// approx.
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "cpu layernorm-gelu"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkNorm(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNormGELU(b, host[float64](y), host[float64](mean), host[float64](rstd), host[float64](x), host[float64](w), host[float64](bias), s, approx)
	} else {
		layerNormGELU(b, host[float32](y), host[float32](mean), host[float32](rstd), host[float32](x), host[float32](w), host[float32](bias), s, approx)
	}
	b.roundBF16(y)
	return nil
}

// LayerNormGELUBackward overwrites dx [Rows, C] and accumulates dw and db
// [C] for y = GELU(u), u = x̂·w + b, x̂ = (x − mean)·rstd. It recomputes u
// from x, the forward's mean and rstd [Rows] (which it only reads), w and
// b [C], rounded to the backend's dtype as LayerNorm rounds its output,
// forms du = dy·GELU'(u) as [Backend.GELUBackward] does and applies the
// LayerNorm backward of [Backend.LayerNormBackward] to du:
//
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)), g = du·w;  dw += Σ du·x̂;  db += Σ du.
//
// The results are bit-identical to GELUBackward followed by
// LayerNormBackward on that u; dw and db are summed in float64 over the
// same fixed row blocks. dy is [Rows, C] and dx may alias it. Errors as for
// LayerNormGELU.
func (b *Backend) LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "cpu layernorm-gelu backward"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkNorm(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "b", T: bias, Want: kernels.Shape{s.C}},
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNormGELUBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy),
			host[float64](x), host[float64](mean), host[float64](rstd), host[float64](w), host[float64](bias), s, approx)
	} else {
		layerNormGELUBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy),
			host[float32](x), host[float32](mean), host[float32](rstd), host[float32](w), host[float32](bias), s, approx)
	}
	b.roundBF16(dx)
	return nil
}

// lnGELURows is the number of rows the fused LayerNorm+GELU ops take at a
// time: small enough that a block's pre-activations are still in L1 or L2
// when GELU reads them, large enough to amortize the calls into the row
// kernels.
const lnGELURows = 32

// layerNormGELU runs layerNormRows on lnGELURows rows at a time, writing
// u into y, and then geluSlice on them in place: every row goes through
// the same kernels as LayerNorm followed by GELU, so the result is
// bit-identical to that composition.
func layerNormGELU[T Float](b *Backend, y, mean, rstd, x, w, bias []T, s kernels.NormShape, approx kernels.GELUApprox) {
	C := s.C
	buf := normParams(w[:C], bias[:C])
	defer putF64(buf)
	wb := *buf
	fast := isFloat32[T]()
	b.parallelFor(s.Rows, 3*C+geluCostOf(fast)*C, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += lnGELURows {
			r1 := min(r0+lnGELURows, hi)
			yb := y[r0*C : r1*C]
			layerNormRows(yb, mean[r0:r1], rstd[r0:r1], x[r0*C:r1*C], wb[:C], wb[C:], s.Eps)
			geluSlice(yb, yb, approx, fast)
		}
	})
}

// layerNormGELUBackward takes each rowReduce block lnGELURows rows at a
// time: normAffineRows recomputes u from the saved mean and rstd into a
// pooled scratch block of T, geluGradSlice writes du = dy·GELU'(u) into a
// second one, and layerNormGradRows turns du into dx and accumulates dw
// and db. du is complete before dx of the same rows is written, so dx may
// alias dy.
func layerNormGELUBackward[T Float](b *Backend, dx, dw, db, dy, x, mean, rstd, w, bias []T, s kernels.NormShape, approx kernels.GELUApprox) {
	C := s.C
	wbuf := normParams(w[:C], bias[:C])
	defer putF64(wbuf)
	w64, b64 := (*wbuf)[:C], (*wbuf)[C:2*C]
	fast := isFloat32[T]()
	sums := getF64(2 * C)
	defer putF64(sums)
	b.rowReduce(s.Rows, 5*C+geluCostOf(fast)*C, 0, *sums, func(lo, hi int, acc, _ []float64) {
		buf := getScratch[T](2 * lnGELURows * C)
		defer putScratch(buf)
		for r0 := lo; r0 < hi; r0 += lnGELURows {
			r1 := min(r0+lnGELURows, hi)
			n := (r1 - r0) * C
			u, du, xb := (*buf)[:n], (*buf)[lnGELURows*C:lnGELURows*C+n], x[r0*C:r1*C]
			normAffineRows(u, mean[r0:r1], rstd[r0:r1], xb, w64, b64)
			geluGradSlice(du, dy[r0*C:r1*C], u, approx, fast)
			layerNormGradRows(dx[r0*C:r1*C], du, xb, mean[r0:r1], rstd[r0:r1], w64, acc[:C], acc[C:2*C])
		}
	})
	addTo(dw, (*sums)[:C])
	addTo(db, (*sums)[C:])
}
