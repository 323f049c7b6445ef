package kernels

import "fmt"

// MaskShape describes FCMAE's patch masking of an NHWC activation: x and y
// [N, GH·Scale, GW·Scale, C] with one mask value per patch, mask [N, GH, GW]
// (1 = masked, 0 = visible, the official fcmae.py convention). Scale is the
// side of one patch at the activation's resolution: the mask is upsampled by
// repetition (fcmae.py upsample_mask, repeat_interleave) to every stage.
type MaskShape struct {
	N, GH, GW, Scale, C int
}

// XShape returns [N, GH·Scale, GW·Scale, C].
func (s MaskShape) XShape() Shape { return Shape{s.N, s.GH * s.Scale, s.GW * s.Scale, s.C} }

// MaskShape returns [N, GH, GW].
func (s MaskShape) MaskShape() Shape { return Shape{s.N, s.GH, s.GW} }

// Validate returns an error wrapping [ErrShape] if a size is not positive.
func (s MaskShape) Validate() error {
	return positive("mask", "N", s.N, "GH", s.GH, "GW", s.GW, "Scale", s.Scale, "C", s.C)
}

// PatchLossShape describes FCMAE's reconstruction loss (fcmae.py
// forward_loss): predictions pred [N, GH, GW, P·P·C] (NHWC output of the
// 1×1 pred conv, channel k = (i·P + j)·C + c for pixel (i, j), channel c of
// the patch, patchify's order) against images img [N, GH·P, GW·P, C].
// With NormPix the target of each patch is normalised by its own mean and
// unbiased variance, (p − mean)/sqrt(var + Eps) (norm_pix_loss, Eps 1e-6).
type PatchLossShape struct {
	N, GH, GW, Patch, C int
	NormPix             bool
	Eps                 float64
}

// PatchLen returns P·P·C, the values of one patch.
func (s PatchLossShape) PatchLen() int { return s.Patch * s.Patch * s.C }

// PredShape returns [N, GH, GW, P·P·C].
func (s PatchLossShape) PredShape() Shape { return Shape{s.N, s.GH, s.GW, s.PatchLen()} }

// ImageShape returns [N, GH·P, GW·P, C].
func (s PatchLossShape) ImageShape() Shape { return Shape{s.N, s.GH * s.Patch, s.GW * s.Patch, s.C} }

// LossShape returns [N, GH, GW], one loss per patch.
func (s PatchLossShape) LossShape() Shape { return Shape{s.N, s.GH, s.GW} }

// Validate returns an error wrapping [ErrShape] if a size is not positive,
// or if NormPix is set with a patch of one value (no unbiased variance).
func (s PatchLossShape) Validate() error {
	if err := positive("patch loss", "N", s.N, "GH", s.GH, "GW", s.GW, "Patch", s.Patch, "C", s.C); err != nil {
		return err
	}
	if s.NormPix && s.PatchLen() < 2 {
		return fmt.Errorf("patch loss: norm_pix needs at least 2 values per patch, have %d: %w", s.PatchLen(), ErrShape)
	}
	if !(s.Eps >= 0) {
		return fmt.Errorf("patch loss: eps %v must be >= 0: %w", s.Eps, ErrShape)
	}
	return nil
}

// MaskOps are the ops of FCMAE pre-training (Woo et al. 2023, ConvNeXt V2,
// §3.1; official models/fcmae.py): the patch mask an encoder run as a
// densely emulated sparse convolution re-applies after every spatial
// operation, the decoder's mask tokens, and the masked reconstruction loss.
type MaskOps interface {
	// MaskFill computes y = fill[c] where the patch holding the pixel is
	// masked and y = x elsewhere, for [MaskShape] s; fill [C] may be nil
	// (zeros: the encoder's masking) or the decoder's mask token
	// (fcmae.py forward_decoder, x·(1 − mask) + mask_token·mask). y may
	// alias x.
	MaskFill(y, x, mask, fill Tensor, s MaskShape) error
	// MaskFillBackward overwrites dx = dy at visible pixels and 0 at masked
	// ones (dx may alias dy) and, when dfill [C] is not nil, accumulates
	// dfill[c] += Σ over masked pixels of dy[…, c].
	MaskFillBackward(dx, dfill, dy, mask Tensor, s MaskShape) error
	// PatchLoss writes the per-patch mean squared error loss [N, GH, GW],
	// mean over the patch's P·P·C values of (pred − target)², and the
	// target [N, GH, GW, P·P·C] it used (the patchified image, per-patch
	// normalised with NormPix), for [PatchLossShape] s.
	PatchLoss(loss, target, pred, img Tensor, s PatchLossShape) error
	// PatchLossBackward overwrites dpred = scale·mask·2·(pred − target)/
	// (P·P·C), the gradient of scale·Σ mask·loss; scale = 1/Σ mask gives
	// fcmae.py's mean over the masked patches.
	PatchLossBackward(dpred, pred, target, mask Tensor, scale float64, s PatchLossShape) error
}
