package gpu

import (
	"github.com/nextconv/nextconv/kernels"
)

// LayerNormGELU computes y = GELU(u), u = LayerNorm(x) = (x − mean)·rstd·w + b,
// in one kernel (layernorm_gelu_fwd_f32, or _bf16 on bf16 x and y) over each row of x [Rows, C], and
// writes mean and rstd [Rows] as LayerNorm does; u is not stored. GELU is
// evaluated as in [Backend.GELU] for approx. y may alias x. Shapes and
// errors as for LayerNorm, plus an error for an unknown approx.
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "gpu layernorm-gelu"
	code, err := geluCode(op, approx)
	if err != nil {
		return err
	}
	dt, err := lnCheck(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false)
	if err != nil {
		return err
	}
	return b.lnForward(kernelFor("layernorm_gelu_fwd", dt), y, mean, rstd, x, w, bias, s, code)
}

// LayerNormGELUBackward overwrites dx [Rows, C] and accumulates dw and db
// [C] for y = GELU(u), u = x̂·w + b, x̂ = (x − mean)·rstd. The kernel
// (layernorm_gelu_bwd_f32) recomputes u from x, mean, rstd [Rows], w and b
// [C], forms du = dy·GELU'(u) (kept in a float32 dx between its two passes
// over a row; recomputed in the second pass when dx is bf16, so that du is
// never rounded) and applies the LayerNorm backward of [Backend.LayerNormBackward]
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
	dt, err := lnCheck(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true,
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}})
	if err != nil {
		return err
	}
	if err := checkArgs(op, kernels.Arg{Name: "b", T: bias, Want: kernels.Shape{s.C}}); err != nil {
		return err
	}
	return b.lnBackward(kernelFor("layernorm_gelu_bwd", dt), dx, dw, db, dy, x, mean, rstd, w, bias, s, code)
}
