package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// CrossEntropy computes the per-sample softmax cross-entropy of logits
// [N, K] against target distributions [N, K],
//
//	loss[n] = −Σ_k target[n,k]·log softmax(logits[n])_k = Σ_k target[n,k]·(lse_n − logits[n,k]),
//
// with the stable log-sum-exp lse_n = max_k logits + log Σ_k exp(logits −
// max), in float64, and writes the softmax probabilities prob [N, K] for
// CrossEntropyBackward; loss is [N]. Terms with target 0 are skipped, so a
// −Inf logit of a class with no target mass gives a finite loss. One-hot,
// label-smoothed ((1−ε)·onehot + ε/K, timm's LabelSmoothingCrossEntropy)
// and mixup/cutmix targets (timm's SoftTargetCrossEntropy) are all rows of
// target. prob may alias logits. It returns an error wrapping
// kernels.ErrShape for an invalid s or a missing or mis-sized tensor,
// kernels.ErrDType for a wrong dtype.
func (b *Backend) CrossEntropy(loss, prob, logits, target kernels.Tensor, s kernels.LossShape) error {
	const op = "cpu cross-entropy"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	nk := kernels.Shape{s.N, s.K}
	if err := b.checkArgs(op, kernels.Arg{Name: "logits", T: logits, Want: nk}, kernels.Arg{Name: "target", T: target, Want: nk},
		kernels.Arg{Name: "prob", T: prob, Want: nk}, kernels.Arg{Name: "loss", T: loss, Want: kernels.Shape{s.N}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		crossEntropy(b, host[float64](loss), host[float64](prob), host[float64](logits), host[float64](target), s)
	} else {
		crossEntropy(b, host[float32](loss), host[float32](prob), host[float32](logits), host[float32](target), s)
	}
	return nil
}

// CrossEntropyBackward overwrites dlogits [N, K] = scale·(prob − target),
// the gradient of scale·Σ_n loss[n] when each target row sums to 1 (scale
// = 1/N for the batch mean). dlogits may alias prob or target. Errors as
// for CrossEntropy.
func (b *Backend) CrossEntropyBackward(dlogits, prob, target kernels.Tensor, scale float64, s kernels.LossShape) error {
	const op = "cpu cross-entropy backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	nk := kernels.Shape{s.N, s.K}
	if err := b.checkArgs(op, kernels.Arg{Name: "prob", T: prob, Want: nk}, kernels.Arg{Name: "target", T: target, Want: nk},
		kernels.Arg{Name: "dlogits", T: dlogits, Want: nk}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		crossEntropyBackward(b, host[float64](dlogits), host[float64](prob), host[float64](target), scale)
	} else {
		crossEntropyBackward(b, host[float32](dlogits), host[float32](prob), host[float32](target), scale)
	}
	b.roundBF16(dlogits)
	return nil
}

func crossEntropy[T Float](b *Backend, loss, prob, logits, target []T, s kernels.LossShape) {
	K := s.K
	b.parallelFor(s.N, 30*K, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			l, p, t := logits[n*K:(n+1)*K], prob[n*K:(n+1)*K], target[n*K:(n+1)*K]
			mx := math.Inf(-1)
			for _, v := range l {
				mx = max(mx, float64(v))
			}
			var sum float64
			for _, v := range l {
				sum += math.Exp(float64(v) - mx)
			}
			lse := mx + math.Log(sum)
			var ls float64
			for k, v := range l {
				f := float64(v)
				if tk := float64(t[k]); tk != 0 {
					ls += tk * (lse - f)
				}
				p[k] = T(math.Exp(f - lse))
			}
			loss[n] = T(ls)
		}
	})
}

func crossEntropyBackward[T Float](b *Backend, dlogits, prob, target []T, scale float64) {
	b.parallelFor(len(prob), elementCost, func(lo, hi int) {
		d, p, t := dlogits[lo:hi], prob[lo:hi], target[lo:hi]
		for i, v := range p {
			d[i] = T(scale * (float64(v) - float64(t[i])))
		}
	})
}
