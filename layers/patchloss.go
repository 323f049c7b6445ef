package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// PatchLoss is FCMAE's reconstruction loss (official models/fcmae.py
// forward_loss): the mean over masked patches of the per-patch mean squared
// error between predictions pred [N, GH, GW, P·P·C] and the patchified
// images img [N, GH·P, GW·P, C], each patch normalised by its own mean and
// unbiased variance when NormPix is set (norm_pix_loss).
type PatchLoss struct {
	be           kernels.Backend
	Patch        int
	NormPix      bool
	s            kernels.PatchLossShape
	pred, mask   kernels.Tensor
	scale        float64
	loss, target Buffer
	dpred        Buffer
	fwd          bool
}

// NewPatchLoss returns the loss for patches of patch×patch pixels.
func NewPatchLoss(be kernels.Backend, patch int, normPix bool) *PatchLoss {
	return &PatchLoss{be: be, Patch: patch, NormPix: normPix}
}

// Forward computes the per-patch losses [N, GH, GW] for mask [N, GH, GW] (1 =
// masked) with masked patches maskedCount = Σ mask (known to the caller,
// which drew the mask). The batch loss is Σ mask·loss / maskedCount
// ([PatchLoss.Mean]). It returns an error wrapping kernels.ErrShape for
// inconsistent shapes or maskedCount < 1.
func (l *PatchLoss) Forward(pred, img, mask kernels.Tensor, maskedCount int) (kernels.Tensor, error) {
	if len(pred.Shape) != 4 || len(img.Shape) != 4 || maskedCount < 1 {
		return kernels.Tensor{}, fmt.Errorf("loss (PatchLoss) forward: pred %v, img %v, %d masked patches: %w", pred.Shape, img.Shape, maskedCount, kernels.ErrShape)
	}
	s := kernels.PatchLossShape{N: pred.Shape[0], GH: pred.Shape[1], GW: pred.Shape[2], Patch: l.Patch, C: img.Shape[3], NormPix: l.NormPix, Eps: 1e-6}
	if !pred.Shape.Equal(s.PredShape()) || !img.Shape.Equal(s.ImageShape()) || !mask.Shape.Equal(s.LossShape()) {
		return kernels.Tensor{}, fmt.Errorf("loss (PatchLoss) forward: pred %v, img %v, mask %v do not agree with %d-pixel patches: %w", pred.Shape, img.Shape, mask.Shape, l.Patch, kernels.ErrShape)
	}
	loss, err := l.loss.Get(l.be, s.LossShape())
	var target kernels.Tensor
	if err == nil {
		target, err = l.target.Get(l.be, s.PredShape())
	}
	if err == nil {
		err = l.be.PatchLoss(loss, target, pred, img, s)
	}
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("loss (PatchLoss) forward: %w", err)
	}
	l.s, l.pred, l.mask, l.scale, l.fwd = s, pred, mask, 1/float64(maskedCount), true
	return loss, nil
}

// Backward returns dL/dpred of the masked mean, mask·2·(pred − target)/
// (P·P·C·Σ mask).
func (l *PatchLoss) Backward() (kernels.Tensor, error) {
	if !l.fwd {
		return kernels.Tensor{}, fmt.Errorf("loss (PatchLoss) backward: %w", ErrNoForward)
	}
	d, err := l.dpred.GetAct(l.be, l.s.PredShape())
	if err == nil {
		err = l.be.PatchLossBackward(d, l.pred, l.target.t, l.mask, l.scale, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("loss (PatchLoss) backward: %w", err)
	}
	return d, nil
}

// Mean downloads the per-patch losses of the last Forward and returns
// Σ mask·loss / Σ mask, fcmae.py's loss (a sync point on a GPU).
func (l *PatchLoss) Mean(mask []float32) (float64, error) {
	if !l.fwd {
		return 0, fmt.Errorf("loss (PatchLoss) mean: %w", ErrNoForward)
	}
	v := make([]float32, l.loss.t.Len())
	if len(mask) != len(v) {
		return 0, fmt.Errorf("loss (PatchLoss) mean: %d mask values for %d patches: %w", len(mask), len(v), kernels.ErrShape)
	}
	if err := l.be.Download(v, l.loss.t); err != nil {
		return 0, err
	}
	sum := 0.0
	for i, x := range v {
		sum += float64(mask[i]) * float64(x)
	}
	return sum * l.scale, nil
}
