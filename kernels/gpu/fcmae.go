package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// checkMask validates s and the tensors of a masking op.
func checkMask(op string, s kernels.MaskShape, args ...kernels.Arg) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, args...); err != nil {
		return err
	}
	return fits32(op, s.XShape().Len())
}

// MaskFill computes y = fill[c] (0 when fill is nil) at pixels whose patch
// is masked and y = x elsewhere (mask_fill_f32), for x, y [N, GH·Scale,
// GW·Scale, C] and mask [N, GH, GW], 1 = masked (FCMAE, official
// models/fcmae.py). y may alias x. It returns an error wrapping
// kernels.ErrShape for an invalid s or a missing, mis-sized or oversized
// tensor, kernels.ErrDType for a tensor that is not this backend's memory.
func (b *Backend) MaskFill(y, x, mask, fill kernels.Tensor, s kernels.MaskShape) error {
	const op = "gpu mask-fill"
	if err := checkMask(op, s, kernels.Arg{Name: "y", T: y, Want: s.XShape()}, kernels.Arg{Name: "x", T: x, Want: s.XShape()},
		kernels.Arg{Name: "mask", T: mask, Want: s.MaskShape()}, kernels.Arg{Name: "fill", T: fill, Want: kernels.Shape{s.C}, Optional: true}); err != nil {
		return err
	}
	n := s.XShape().Len()
	return b.launch("mask_fill_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).Ptr(ptr(mask)).Ptr(ptr(fill)).Int32(int32(n)).Int32(int32(s.C)).Int32(int32(s.GH)).Int32(int32(s.GW)).Int32(int32(s.Scale)))
}

// MaskFillBackward overwrites dx = dy at visible pixels and 0 at masked
// ones (mask_fill_bwd_f32; dx may alias dy) and, when dfill [C] is not nil,
// accumulates dfill[c] += Σ over masked pixels of dy[…, c]
// (mask_fill_dfill_f32, one block per channel, in float64). Errors as for
// MaskFill.
func (b *Backend) MaskFillBackward(dx, dfill, dy, mask kernels.Tensor, s kernels.MaskShape) error {
	const op = "gpu mask-fill backward"
	if err := checkMask(op, s, kernels.Arg{Name: "dx", T: dx, Want: s.XShape()}, kernels.Arg{Name: "dy", T: dy, Want: s.XShape()},
		kernels.Arg{Name: "mask", T: mask, Want: s.MaskShape()}, kernels.Arg{Name: "dfill", T: dfill, Want: kernels.Shape{s.C}, Optional: true}); err != nil {
		return err
	}
	n := s.XShape().Len()
	if !dfill.Nil() { // before dx, which may alias dy
		if err := b.launch("mask_fill_dfill_f32", dim1(s.C), dim1(streamThreads), 0, b.args().Ptr(ptr(dfill)).Ptr(ptr(dy)).Ptr(ptr(mask)).Int32(int32(n/s.C)).Int32(int32(s.C)).Int32(int32(s.GH)).Int32(int32(s.GW)).Int32(int32(s.Scale))); err != nil {
			return err
		}
	}
	return b.launch("mask_fill_bwd_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(dx)).Ptr(ptr(dy)).Ptr(ptr(mask)).Int32(int32(n)).Int32(int32(s.C)).Int32(int32(s.GH)).Int32(int32(s.GW)).Int32(int32(s.Scale)))
}

// PatchLoss writes the per-patch mean squared error loss [N, GH, GW] of pred
// [N, GH, GW, P·P·C] against the patchified image img [N, GH·P, GW·P, C] and
// the target it used (patch_loss_f32, one block per patch, statistics in
// float64): with s.NormPix each patch is normalised by its mean and unbiased
// variance, (p − mean)/sqrt(var + Eps) (fcmae.py forward_loss,
// norm_pix_loss). Errors as for MaskFill.
func (b *Backend) PatchLoss(loss, target, pred, img kernels.Tensor, s kernels.PatchLossShape) error {
	const op = "gpu patch-loss"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, kernels.Arg{Name: "loss", T: loss, Want: s.LossShape()}, kernels.Arg{Name: "target", T: target, Want: s.PredShape()},
		kernels.Arg{Name: "pred", T: pred, Want: s.PredShape()}, kernels.Arg{Name: "img", T: img, Want: s.ImageShape()}); err != nil {
		return err
	}
	if err := fits32(op, s.PredShape().Len()); err != nil {
		return err
	}
	norm := int32(0)
	if s.NormPix {
		norm = 1
	}
	threads := min(streamThreads, (s.PatchLen()+31)/32*32)
	return b.launch("patch_loss_f32", dim1(s.LossShape().Len()), dim1(threads), 0, b.args().Ptr(ptr(loss)).Ptr(ptr(target)).Ptr(ptr(pred)).Ptr(ptr(img)).Int32(int32(s.GH)).Int32(int32(s.GW)).Int32(int32(s.Patch)).Int32(int32(s.C)).Int32(norm).Float64(s.Eps))
}

// PatchLossBackward overwrites dpred = scale·mask·2·(pred − target)/(P·P·C)
// (patch_loss_bwd_f32, float64 rounded once), the gradient of
// scale·Σ mask·loss. Errors as for MaskFill.
func (b *Backend) PatchLossBackward(dpred, pred, target, mask kernels.Tensor, scale float64, s kernels.PatchLossShape) error {
	const op = "gpu patch-loss backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, kernels.Arg{Name: "dpred", T: dpred, Want: s.PredShape()}, kernels.Arg{Name: "pred", T: pred, Want: s.PredShape()},
		kernels.Arg{Name: "target", T: target, Want: s.PredShape()}, kernels.Arg{Name: "mask", T: mask, Want: s.LossShape()}); err != nil {
		return err
	}
	n := s.PredShape().Len()
	if err := fits32(op, n); err != nil {
		return err
	}
	return b.launch("patch_loss_bwd_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(dpred)).Ptr(ptr(pred)).Ptr(ptr(target)).Ptr(ptr(mask)).Float64(scale).Int32(int32(n)).Int32(int32(s.PatchLen())))
}
