package gpu

import (
	"github.com/nextconv/nextconv/kernels"
)

// LayerNormGELU computes y = GELU(u), u = LayerNorm(x) = (x − mean)·rstd·w + b,
// in one kernel (layernorm_gelu_fwd_f32) over each row of x [Rows, C], and
// writes mean and rstd [Rows] as LayerNorm does; u is not stored. GELU is
// evaluated as in [Backend.GELU] for approx. y may alias x. Shapes and
// errors as for LayerNorm, plus an error for an unknown approx.
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "gpu layernorm-gelu"
	code, err := geluCode(op, approx)
	if err != nil {
		return err
	}
	if err := lnCheck(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false); err != nil {
		return err
	}
	return b.lnForward("layernorm_gelu_fwd_f32", y, mean, rstd, x, w, bias, s, code)
}

// LayerNormGELUBackward overwrites dx [Rows, C] and accumulates dw and db
// [C] for y = GELU(u), u = x̂·w + b, x̂ = (x − mean)·rstd. The kernel
// (layernorm_gelu_bwd_f32) recomputes u from x, mean, rstd [Rows], w and b
// [C], forms du = dy·GELU'(u) (kept in dx between its two passes over a
// row) and applies the LayerNorm backward of [Backend.LayerNormBackward]
// to du:
//
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)), g = du·w;  dw += Σ du·x̂;  db += Σ du.
//
// dx may alias dy. The parameter gradients are summed deterministically as
// in LayerNormBackward. Errors as for LayerNormGELU.
func (b *Backend) LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "gpu layernorm-gelu backward"
	code, err := geluCode(op, approx)
	if err != nil {
		return err
	}
	if err := lnCheck(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true); err != nil {
		return err
	}
	if err := checkArgs(op, kernels.Arg{Name: "b", T: bias, Want: kernels.Shape{s.C}},
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}}); err != nil {
		return err
	}
	return b.lnBackward("layernorm_gelu_bwd_f32", dx, dw, db, dy, x, mean, rstd, w, bias, s, code)
}
