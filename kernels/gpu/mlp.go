package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

var _ kernels.MLPOps = (*Backend)(nil)

// BiasGELUSumSq writes h = GELU_erf(a + bias) for a and h [N, HW, C] (h
// must not alias a) and bias [C] (the zero Tensor: a holds it), and sumSq [N, C] = Σ_hw h², in one pass
// over the hidden tensor (mlp_fwd_f32 in kernels/src/mlp.cu, which also
// forms the chunk sums of squares grn_sumsq_f32 would), then
// mlp_sum_chunks_f32 adds the chunk sums in order when HW spans more than
// one chunk. With GRNApply it replaces bias_add_f32, gelu_fwd_f32 and
// grn_sumsq_f32: one read and one write of the hidden tensor instead of
// three reads and two writes. It returns an error wrapping
// kernels.ErrShape for an invalid s, a mis-sized tensor or a grid over the
// CUDA limits, kernels.ErrDType for a host tensor or activations of mixed
// dtypes, or the driver's error. Activations (a, h) are float32 or bf16
// (mlp_fwd_bf16: h rounded once, its sums squaring the stored h;
// mlp_fwd_v8_bf16, 8 channels a thread with 16-byte accesses and the same
// bits, when C is a multiple of 8 and a and h are 16-byte aligned, see
// grnStats).
func (b *Backend) BiasGELUSumSq(h, sumSq, a, bias kernels.Tensor, s kernels.GRNShape) error {
	const op = "gpu bias gelu sumsq"
	x := kernels.Shape{s.N, s.HW, s.C}
	dt, err := grnCheck(op, s, kernels.Arg{Name: "a", T: a, Want: x}, kernels.Arg{Name: "h", T: h, Want: x},
		kernels.Arg{Name: "bias", T: bias, Want: kernels.Shape{s.C}, Optional: true}, kernels.Arg{Name: "sumSq", T: sumSq, Want: kernels.Shape{s.N, s.C}})
	if err != nil {
		return err
	}
	chunks := blocks(s.HW, grnChunk)
	part := ptr(sumSq)
	if chunks > 1 {
		p, free, err := b.normTemp(s.N * chunks * s.C)
		if err != nil {
			return fmt.Errorf("%s: chunk sums: %w", op, err)
		}
		defer free()
		part = p
	}
	hw, C := int32(s.HW), int32(s.C)
	name, grid, block := grnStats("mlp_fwd", dt, s, chunks, h, a)
	if err := b.launch(name, grid, block, 0, b.args().Ptr(ptr(h)).Ptr(part).
		Ptr(ptr(a)).Ptr(ptr(bias)).Int32(hw).Int32(C).Int32(int32(grnChunk))); err != nil {
		return err
	}
	if chunks == 1 {
		return nil
	}
	return b.launch("mlp_sum_chunks_f32", cuda.Dim3{X: blocks(s.C, grnThreads), Y: s.N, Z: 1}, dim1(grnThreads), 0,
		b.args().Ptr(ptr(sumSq)).Ptr(part).Int32(int32(chunks)).Int32(C))
}

// GRNApply is [Backend.GRN] given the sums of squares sumSq [N, C] of x
// (from BiasGELUSumSq): grn_coef_f32 with one chunk (the same sqrt,
// channel mean and coefficients as GRN; bit-identical to GRN on x, whose
// chunk sums are added in the same order) and grn_apply_f32. Two launches,
// one read and one write of x's size. Errors as for BiasGELUSumSq.
func (b *Backend) GRNApply(y, gnorm, x, sumSq, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	const op = "gpu grn apply"
	args := append(s.ForwardArgs(y, gnorm, x, gamma, beta), kernels.Arg{Name: "sumSq", T: sumSq, Want: kernels.Shape{s.N, s.C}})
	dt, err := grnCheck(op, s, args...)
	if err != nil {
		return err
	}
	coef, freeCoef, err := b.normTemp(s.N * s.C)
	if err != nil {
		return fmt.Errorf("%s: coefficients: %w", op, err)
	}
	defer freeCoef()
	C := int32(s.C)
	if err := b.launch("grn_coef_f32", dim1(s.N), dim1(grnThreads), 0, b.args().Ptr(coef).Ptr(ptr(gnorm)).
		Ptr(ptr(sumSq)).Ptr(ptr(gamma)).Int32(1).Int32(C).Float32(float32(s.Eps))); err != nil {
		return err
	}
	return b.launch(kernelFor("grn_apply", dt), grnApplyGrid(s, dt), dim1(grnThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(coef).Ptr(ptr(beta)).Int32(int32(s.HW)).Int32(C))
}

// GRNGELUBackward is GRNBackward of the GRN whose input was h, followed by
// the GELU backward at a + bias and the bias gradient: da [N, HW, C] =
// dh·GELU_erf'(a + bias) (dh is not stored; da aliases none of dy, h, a),
// dbias, dgamma and dbeta [C] accumulated. Four launches: GRN's
// statistics (grn_bwd_sums_f32) and coefficients (grn_bwd_coef_f32), the
// fused mlp_bwd_f32 (da and the chunk sums of the bias gradient) and
// mlp_bwd_params_f32 (every parameter gradient, in a fixed order). Over the
// hidden tensor that is 5 tensor reads and 1 write, against 7 reads and 2
// writes for grn_bwd_sums_f32, grn_bwd_apply_f32, gelu_bwd_f32 and the
// bias column sum. Errors as for BiasGELUSumSq.
func (b *Backend) GRNGELUBackward(da, dbias, dgamma, dbeta, dy, h, a, bias, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	const op = "gpu grn gelu backward"
	x := kernels.Shape{s.N, s.HW, s.C}
	args := append(s.BackwardArgs(da, dgamma, dbeta, dy, h, gnorm, gamma),
		kernels.Arg{Name: "a", T: a, Want: x}, kernels.Arg{Name: "bias", T: bias, Want: kernels.Shape{s.C}, Optional: true},
		kernels.Arg{Name: "dbias", T: dbias, Want: kernels.Shape{s.C}})
	dt, err := grnCheck(op, s, args...)
	if err != nil {
		return err
	}
	if da.Nil() || dbias.Nil() {
		return fmt.Errorf("%s: da and dbias are required: %w", op, kernels.ErrShape)
	}
	t, err := b.grnBackwardCoef(op, dt, s, dy, h, gnorm, gamma)
	if err != nil {
		return err
	}
	defer t.free()
	hw, C := int32(s.HW), int32(s.C)
	name, grid, block := grnStats("mlp_bwd", dt, s, t.chunks, da, dy, h, a)
	// The chunk sums of dy·h are spent: their first N·chunks·C floats take
	// the bias gradient's chunk sums.
	if err := b.launch(name, grid, block, 0, b.args().Ptr(ptr(da)).Ptr(t.part).Ptr(ptr(dy)).Ptr(ptr(h)).
		Ptr(ptr(a)).Ptr(ptr(bias)).Ptr(t.coef).Int32(hw).Int32(C).Int32(int32(grnChunk))); err != nil {
		return err
	}
	return b.launch("mlp_bwd_params_f32", dim1(blocks(s.C, grnThreads)), dim1(grnThreads), 0, b.args().Ptr(ptr(dgamma)).
		Ptr(ptr(dbeta)).Ptr(ptr(dbias)).Ptr(t.share).Ptr(t.part).Int32(int32(s.N)).Int32(int32(s.N*t.chunks)).Int32(C))
}
