package kernels

import (
	"fmt"
	"math"
)

// InputOps put a training batch together on the backend: uint8 pixels
// staged and normalised, mixup and CutMix, the soft targets, and drop
// path's random masks. Both the CPU and the CUDA backend implement it with
// the same float32 arithmetic and the same Philox4x32-10 draws
// (internal/philox), so a run makes the same decisions on either.
type InputOps interface {
	// NewStager returns a double-buffered stage for uint8 NHWC batches of
	// at most maxBytes bytes, normalised per channel with mean and std
	// (len(mean) = len(std) = C, std > 0). It returns an error wrapping
	// ErrShape for maxBytes <= 0 or mismatched statistics.
	NewStager(maxBytes int, mean, std []float64) (Stager, error)
	// MixBlend mixes the batch x [N, ...] with its reverse in place (mixup,
	// Zhang et al. 2018, timm's flip pairing): for each pair (i, N−1−i),
	// x_i = lam·x_i + (1−lam)·x_j and x_j = lam·x_j + (1−lam)·x_i from the
	// old values, each operation rounded to float32.
	MixBlend(x Tensor, lam float64) error
	// MixCut swaps, between each pair (i, N−1−i) of x [N, H, W, C] with
	// i < N/2, the pixels of rows [box[0], box[1]) × columns [box[2],
	// box[3]) (CutMix, Yun et al. 2019). It returns an error wrapping
	// ErrShape for a box outside the image.
	MixCut(x Tensor, box [4]int) error
	// MixTargets writes the soft targets t [N, K] of labels [N] (class
	// indices as float32 values, each in [0, K)) with label smoothing ε:
	// y = (1−ε)·onehot + ε/K. Unmixed, row i is float32(ε/K) with
	// float32(1−ε+ε/K) at labels[i] (layers.SmoothedTargets); mixed, it is
	// timm's mixup_target λ·y_i + (1−λ)·y_{N−1−i}, computed as float32(ε/K)
	// + float32(λ·(1−ε)) at labels[i] + float32((1−λ)·(1−ε)) at
	// labels[N−1−i].
	MixTargets(t, labels Tensor, lam, smoothing float64, mixed bool) error
	// DropMask writes drop path's per-sample factors mask [N] from the
	// Philox stream (seed, counter): factor float32(1/keep) where the
	// uniform of block counter+i is below float32(keep), else 0
	// (philox.KeepMask). The caller advances its counter by N.
	DropMask(mask Tensor, keep float64, seed, counter uint64) error
}

// Stager moves uint8 NHWC batches to the backend. On CUDA the host buffers
// are page-locked and alternate, and the copy runs on a second stream while
// the previous step computes; on the CPU it is a plain buffer.
type Stager interface {
	// Host returns the host buffer to fill with the next batch's n bytes,
	// once the copy that last read it is done. It returns an error wrapping
	// ErrShape if n exceeds the stager's size.
	Host(n int) ([]byte, error)
	// Normalize queues the copy of the buffer Host returned last and
	// normalises it into y (y.Len() bytes, C = len(mean) channels
	// innermost): y = (float32(v)/255 − mean[c])/std[c] in float32, as
	// torchvision's ToTensor and Normalize (datasets.Normalize).
	Normalize(y Tensor) error
	// Close releases the buffers after the queued work is done.
	Close() error
}

// NormalizeStats checks per-channel normalisation statistics and returns
// them as the float32 values both backends compute with: mean[0..C) then
// std[0..C). It returns an error wrapping ErrShape for no channels,
// lengths that differ, or a std that is not positive and finite.
func NormalizeStats(mean, std []float64) ([]float32, error) {
	if len(mean) == 0 || len(mean) != len(std) {
		return nil, fmt.Errorf("normalize: %d means and %d stds: %w", len(mean), len(std), ErrShape)
	}
	c := len(mean)
	s := make([]float32, 2*c)
	for i := range c {
		if !(std[i] > 0) || math.IsInf(std[i], 0) || math.IsNaN(mean[i]) || math.IsInf(mean[i], 0) {
			return nil, fmt.Errorf("normalize: channel %d has mean %g and std %g (want finite, std > 0): %w", i, mean[i], std[i], ErrShape)
		}
		s[i], s[c+i] = float32(mean[i]), float32(std[i])
	}
	return s, nil
}

// CheckCut returns an error wrapping ErrShape unless x is [N, H, W, C] and
// box = (y0, y1, x0, x1) satisfies 0 <= y0 <= y1 <= H and 0 <= x0 <= x1 <= W.
func CheckCut(op string, x Tensor, box [4]int) error {
	if len(x.Shape) != 4 {
		return fmt.Errorf("%s: x %v is not [N, H, W, C]: %w", op, x.Shape, ErrShape)
	}
	h, w := x.Shape[1], x.Shape[2]
	if !(0 <= box[0] && box[0] <= box[1] && box[1] <= h && 0 <= box[2] && box[2] <= box[3] && box[3] <= w) {
		return fmt.Errorf("%s: box rows [%d, %d) × columns [%d, %d) outside a %d×%d image: %w", op, box[0], box[1], box[2], box[3], h, w, ErrShape)
	}
	return nil
}

// TargetValues returns the float32 constants of MixTargets' rows: off =
// ε/K, and the values added at the sample's own label (onY) and at its
// partner's (onJ); unmixed, onY is the smoothed "on" value itself and onJ
// is 0. It returns an error wrapping ErrShape for k <= 0 or ε outside
// [0, 1] and for lam outside [0, 1].
func TargetValues(k int, lam, smoothing float64, mixed bool) (off, onY, onJ float32, err error) {
	if k <= 0 || !(smoothing >= 0 && smoothing <= 1) || !(lam >= 0 && lam <= 1) {
		return 0, 0, 0, fmt.Errorf("targets: %d classes, smoothing %v, lambda %v (want K > 0, both in [0, 1]): %w", k, smoothing, lam, ErrShape)
	}
	o := smoothing / float64(k)
	on := 1 - smoothing + o
	if !mixed {
		return float32(o), float32(on), 0, nil
	}
	return float32(o), float32(lam * (on - o)), float32((1 - lam) * (on - o)), nil
}
