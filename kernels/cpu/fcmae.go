package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// MaskFill computes y = fill[c] (0 when fill is nil) at pixels whose patch is
// masked (mask ≠ 0) and y = x elsewhere, for x, y [N, GH·Scale, GW·Scale, C]
// and mask [N, GH, GW] (FCMAE's masking, official models/fcmae.py). y may
// alias x. It returns an error wrapping kernels.ErrShape for an invalid
// shape or a missing or mis-sized tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) MaskFill(y, x, mask, fill kernels.Tensor, s kernels.MaskShape) error {
	const op = "cpu mask-fill"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "y", T: y, Want: s.XShape()}, kernels.Arg{Name: "x", T: x, Want: s.XShape()},
		kernels.Arg{Name: "mask", T: mask, Want: s.MaskShape()}, kernels.Arg{Name: "fill", T: fill, Want: kernels.Shape{s.C}, Optional: true}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		maskFill(b, host[float64](y), host[float64](x), host[float64](mask), host[float64](fill), s)
	} else {
		maskFill(b, host[float32](y), host[float32](x), host[float32](mask), host[float32](fill), s)
	}
	b.roundBF16(y)
	return nil
}

// maskedAt reports whether pixel p (row-major over N, H, W) lies in a masked
// patch.
func maskedAt[T Float](mask []T, s kernels.MaskShape, p int) bool {
	w := s.GW * s.Scale
	h := s.GH * s.Scale
	n, r := p/(h*w), p%(h*w)
	return mask[(n*s.GH+r/w/s.Scale)*s.GW+r%w/s.Scale] != 0
}

func maskFill[T Float](b *Backend, y, x, mask, fill []T, s kernels.MaskShape) {
	pixels := s.N * s.GH * s.Scale * s.GW * s.Scale
	b.parallelFor(pixels, s.C*elementCost, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			yr, xr := y[p*s.C:(p+1)*s.C], x[p*s.C:(p+1)*s.C]
			switch {
			case !maskedAt(mask, s, p):
				copy(yr, xr)
			case fill == nil:
				clear(yr)
			default:
				copy(yr, fill)
			}
		}
	})
}

// MaskFillBackward overwrites dx = dy at visible pixels and 0 at masked ones
// (dx may alias dy) and, when dfill [C] is not nil, accumulates dfill[c] +=
// Σ over masked pixels of dy[…, c] (summed in float64 in pixel order).
// Errors as for MaskFill.
func (b *Backend) MaskFillBackward(dx, dfill, dy, mask kernels.Tensor, s kernels.MaskShape) error {
	const op = "cpu mask-fill backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "dx", T: dx, Want: s.XShape()}, kernels.Arg{Name: "dy", T: dy, Want: s.XShape()},
		kernels.Arg{Name: "mask", T: mask, Want: s.MaskShape()}, kernels.Arg{Name: "dfill", T: dfill, Want: kernels.Shape{s.C}, Optional: true}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		maskFillBackward(host[float64](dx), host[float64](dfill), host[float64](dy), host[float64](mask), s)
	} else {
		maskFillBackward(host[float32](dx), host[float32](dfill), host[float32](dy), host[float32](mask), s)
	}
	b.roundBF16(dx)
	return nil
}

func maskFillBackward[T Float](dx, dfill, dy, mask []T, s kernels.MaskShape) {
	pixels := s.N * s.GH * s.Scale * s.GW * s.Scale
	var acc []float64
	if dfill != nil {
		acc = make([]float64, s.C)
	}
	for p := range pixels {
		dxr, dyr := dx[p*s.C:(p+1)*s.C], dy[p*s.C:(p+1)*s.C]
		if !maskedAt(mask, s, p) {
			copy(dxr, dyr)
			continue
		}
		for c, v := range dyr {
			if acc != nil {
				acc[c] += float64(v)
			}
			dxr[c] = 0
		}
	}
	for c, v := range acc {
		dfill[c] += T(v)
	}
}

// PatchLoss writes the per-patch mean squared error loss [N, GH, GW] of pred
// [N, GH, GW, P·P·C] against the patchified image img [N, GH·P, GW·P, C], and
// the target it used [N, GH, GW, P·P·C]: with s.NormPix each patch is
// normalised by its mean and unbiased variance, (p − mean)/sqrt(var + Eps)
// (official models/fcmae.py forward_loss with norm_pix_loss). Statistics and
// sums are in float64. Errors as for MaskFill.
func (b *Backend) PatchLoss(loss, target, pred, img kernels.Tensor, s kernels.PatchLossShape) error {
	const op = "cpu patch-loss"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "loss", T: loss, Want: s.LossShape()}, kernels.Arg{Name: "target", T: target, Want: s.PredShape()},
		kernels.Arg{Name: "pred", T: pred, Want: s.PredShape()}, kernels.Arg{Name: "img", T: img, Want: s.ImageShape()}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		patchLoss(b, host[float64](loss), host[float64](target), host[float64](pred), host[float64](img), s)
	} else {
		patchLoss(b, host[float32](loss), host[float32](target), host[float32](pred), host[float32](img), s)
	}
	return nil
}

func patchLoss[T Float](b *Backend, loss, target, pred, img []T, s kernels.PatchLossShape) {
	pl, p := s.PatchLen(), s.Patch
	w := s.GW * p
	b.parallelFor(s.N*s.GH*s.GW, pl*elementCost, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			n, gi, gj := q/(s.GH*s.GW), q/s.GW%s.GH, q%s.GW
			t := target[q*pl : (q+1)*pl]
			for i := range p {
				row := ((n*s.GH*p+gi*p+i)*w + gj*p) * s.C
				for k := range p * s.C {
					t[i*p*s.C+k] = img[row+k]
				}
			}
			if s.NormPix {
				sum := 0.0
				for _, v := range t {
					sum += float64(v)
				}
				mean := sum / float64(pl)
				ss := 0.0
				for _, v := range t {
					d := float64(v) - mean
					ss += d * d
				}
				rstd := 1 / math.Sqrt(ss/float64(pl-1)+s.Eps)
				for k, v := range t {
					t[k] = T((float64(v) - mean) * rstd)
				}
			}
			se := 0.0
			for k, v := range pred[q*pl : (q+1)*pl] {
				d := float64(v) - float64(t[k])
				se += d * d
			}
			loss[q] = T(se / float64(pl))
		}
	})
}

// PatchLossBackward overwrites dpred = scale·mask·2·(pred − target)/(P·P·C)
// for pred, target, dpred [N, GH, GW, P·P·C] and mask [N, GH, GW]: the
// gradient of scale·Σ mask·loss. Errors as for MaskFill.
func (b *Backend) PatchLossBackward(dpred, pred, target, mask kernels.Tensor, scale float64, s kernels.PatchLossShape) error {
	const op = "cpu patch-loss backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "dpred", T: dpred, Want: s.PredShape()}, kernels.Arg{Name: "pred", T: pred, Want: s.PredShape()},
		kernels.Arg{Name: "target", T: target, Want: s.PredShape()}, kernels.Arg{Name: "mask", T: mask, Want: s.LossShape()}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		patchLossBackward(host[float64](dpred), host[float64](pred), host[float64](target), host[float64](mask), scale, s)
	} else {
		patchLossBackward(host[float32](dpred), host[float32](pred), host[float32](target), host[float32](mask), scale, s)
	}
	b.roundBF16(dpred)
	return nil
}

func patchLossBackward[T Float](dpred, pred, target, mask []T, scale float64, s kernels.PatchLossShape) {
	pl := s.PatchLen()
	for q, m := range mask {
		g := scale * float64(m) * 2 / float64(pl)
		for k := q * pl; k < (q+1)*pl; k++ {
			dpred[k] = T(g * (float64(pred[k]) - float64(target[k])))
		}
	}
}
