package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// CrossEntropy computes the per-sample softmax cross-entropy of logits
// [N, K] against target distributions [N, K] (cross_entropy_fwd_f32),
//
//	loss[n] = Σ_k target[n,k]·(lse_n − logits[n,k]),  lse_n = max + log Σ_k exp(logits[n,k] − max),
//
// in float64 like the CPU backend, skipping terms whose target is 0, and
// writes the softmax probabilities prob [N, K] for CrossEntropyBackward;
// loss is [N]. One-hot, label-smoothed and mixup/cutmix targets are all
// rows of target. prob may alias logits. One block per sample reduces its
// row. logits may be bf16 (cross_entropy_fwd_bf16, bf16 autocast: the
// softmax and the loss in float32 or wider); loss, prob and target are
// float32. It returns an error wrapping kernels.ErrShape for an invalid s or a
// missing, mis-sized or oversized tensor, kernels.ErrDType for a tensor
// that is not this backend's device memory.
func (b *Backend) CrossEntropy(loss, prob, logits, target kernels.Tensor, s kernels.LossShape) error {
	const op = "gpu cross-entropy"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	nk := kernels.Shape{s.N, s.K}
	dt, err := checkActs(op, []kernels.Arg{{Name: "logits", T: logits, Want: nk}}, kernels.Arg{Name: "target", T: target, Want: nk},
		kernels.Arg{Name: "prob", T: prob, Want: nk}, kernels.Arg{Name: "loss", T: loss, Want: kernels.Shape{s.N}})
	if err != nil {
		return err
	}
	if err := fits32(op, s.N*s.K); err != nil {
		return err
	}
	threads := min(streamThreads, (s.K+31)/32*32)
	return b.launch(kernelFor("cross_entropy_fwd", dt), dim1(s.N), dim1(threads), 0, b.args().Ptr(ptr(loss)).
		Ptr(ptr(prob)).Ptr(ptr(logits)).Ptr(ptr(target)).Int32(int32(s.K)))
}

// CrossEntropyBackward overwrites dlogits [N, K] = scale·(prob − target)
// (cross_entropy_bwd_f32, float64 arithmetic rounded once), the gradient of
// scale·Σ_n loss[n] when each target row sums to 1 (scale = 1/N for the
// batch mean). dlogits may alias prob or target, or be bf16
// (cross_entropy_bwd_bf16: the float32 value rounded once more, as the CPU
// emulation and autocast's cast back to the logits' dtype do); prob and
// target are float32. Errors as for CrossEntropy.
func (b *Backend) CrossEntropyBackward(dlogits, prob, target kernels.Tensor, scale float64, s kernels.LossShape) error {
	const op = "gpu cross-entropy backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	nk := kernels.Shape{s.N, s.K}
	dt, err := checkActs(op, []kernels.Arg{{Name: "dlogits", T: dlogits, Want: nk}}, kernels.Arg{Name: "prob", T: prob, Want: nk},
		kernels.Arg{Name: "target", T: target, Want: nk})
	if err != nil {
		return err
	}
	n := s.N * s.K
	if err := fits32(op, n); err != nil {
		return err
	}
	return b.launch(kernelFor("cross_entropy_bwd", dt), streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(dlogits)).
		Ptr(ptr(prob)).Ptr(ptr(target)).Float64(scale).Int32(int32(n)))
}
