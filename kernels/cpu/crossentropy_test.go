package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestCrossEntropyHandValues(t *testing.T) {
	for _, b := range backends() {
		s := kernels.LossShape{N: 3, K: 3}
		logits := newT(t, b, kernels.Shape{3, 3}, []float64{
			1, 2, 3, // one-hot class 2: log(e + e² + e³) − 3
			0.5, 0.5, 0.5, // uniform logits: log K
			1000, 0, -1000, // huge logits stay finite
		})
		target := newT(t, b, kernels.Shape{3, 3}, []float64{0, 0, 1, 1, 0, 0, 0, 1, 0})
		loss, prob := newT(t, b, kernels.Shape{3}, nil), newT(t, b, kernels.Shape{3, 3}, nil)
		must(t, b.CrossEntropy(loss, prob, logits, target, s))
		e := math.E
		want := []float64{math.Log(e+e*e+e*e*e) - 3, math.Log(3), 1000}
		testutil.AllClose(t, b.Name()+" cross-entropy loss", vals(loss), want, 1e-7, 0)
		z := e + e*e + e*e*e
		testutil.AllClose(t, b.Name()+" cross-entropy prob", vals(prob),
			[]float64{e / z, e * e / z, e * e * e / z, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1, 0, 0}, 1e-7, 1e-300)
		// A −Inf logit of a class without target mass is fine.
		must(t, b.CrossEntropy(loss, prob, newT(t, b, kernels.Shape{3, 3}, []float64{0, 0, math.Inf(-1), 0, 0, 0, 0, 0, 0}),
			newT(t, b, kernels.Shape{3, 3}, []float64{0.5, 0.5, 0, 1, 0, 0, 1, 0, 0}), s))
		testutil.AllClose(t, b.Name()+" cross-entropy -Inf logit", vals(loss)[:1], []float64{math.Log(2)}, 1e-7, 0)
	}
}

// ceTargets returns one-hot, label-smoothed (ε = 0.1, timm) and soft
// (normalized random, as mixup produces) targets for N samples of K classes.
func ceTargets(n, k int) map[string][]float64 {
	labels := randVals(171, n, 1)
	onehot, smooth := make([]float64, n*k), make([]float64, n*k)
	for i := range n {
		c := int(math.Abs(labels[i])*float64(k)) % k
		onehot[i*k+c] = 1
		for j := range k {
			smooth[i*k+j] = 0.1 / float64(k)
		}
		smooth[i*k+c] += 0.9
	}
	soft := randVals(172, n*k, 1)
	for i := range n {
		var s float64
		for j := range k {
			soft[i*k+j] = math.Abs(soft[i*k+j])
			s += soft[i*k+j]
		}
		for j := range k {
			soft[i*k+j] /= s
		}
	}
	return map[string][]float64{"one-hot": onehot, "label-smoothed": smooth, "soft": soft}
}

func TestCrossEntropyGradient(t *testing.T) {
	b := New64()
	s := kernels.LossShape{N: 5, K: 7}
	nk := kernels.Shape{s.N, s.K}
	for name, tv := range ceTargets(s.N, s.K) {
		logits := newT(t, b, nk, randVals(173, s.N*s.K, 3))
		target := newT(t, b, nk, tv)
		loss, prob := newT(t, b, kernels.Shape{s.N}, nil), newT(t, b, nk, nil)
		scale := 1 / float64(s.N)
		mean := func() float64 {
			must(t, b.CrossEntropy(loss, prob, logits, target, s))
			var sum float64
			for _, v := range vals(loss) {
				sum += v
			}
			return scale * sum
		}
		mean()
		// The loss against the definition −Σ t·log softmax.
		lv, pv := vals(logits), vals(prob)
		for n := range s.N {
			var want, psum float64
			for k := range s.K {
				want -= tv[n*s.K+k] * math.Log(pv[n*s.K+k])
				psum += pv[n*s.K+k]
			}
			if got := vals(loss)[n]; math.Abs(got-want) > 1e-12*math.Abs(want) || math.Abs(psum-1) > 1e-14 {
				t.Errorf("%s: loss[%d] = %v, want %v (prob sums to %v)", name, n, got, want, psum)
			}
		}
		dl := newT(t, b, nk, nil)
		must(t, b.CrossEntropyBackward(dl, prob, target, scale, s))
		checkGrad(t, "cross-entropy "+name+" dlogits", logits, vals(dl), mean)
		// dlogits may alias prob; prob may alias logits.
		mean() // the finite differences left prob at perturbed logits
		must(t, b.CrossEntropyBackward(prob, prob, target, scale, s))
		testutil.AllClose(t, "cross-entropy backward in place", vals(prob), vals(dl), 0, 0)
		l2 := newT(t, b, nk, lv)
		must(t, b.CrossEntropy(loss, l2, l2, target, s))
		testutil.AllClose(t, "cross-entropy prob aliasing logits", vals(l2), pv, 0, 0)
	}
}

func TestCrossEntropyFloat32MatchesFloat64(t *testing.T) {
	s := kernels.LossShape{N: 16, K: 100}
	nk := kernels.Shape{s.N, s.K}
	tv := ceTargets(s.N, s.K)["label-smoothed"]
	agree(t, "cross-entropy f32 vs f64", 1e-5, 1e-7, func(b *Backend) ([]kernels.Tensor, func() error) {
		logits, target := newT(t, b, nk, randVals(181, s.N*s.K, 5)), newT(t, b, nk, tv)
		loss, prob, dl := newT(t, b, kernels.Shape{s.N}, nil), newT(t, b, nk, nil), newT(t, b, nk, nil)
		return []kernels.Tensor{loss, prob, dl}, func() error {
			if err := b.CrossEntropy(loss, prob, logits, target, s); err != nil {
				return err
			}
			return b.CrossEntropyBackward(dl, prob, target, 1/float64(s.N), s)
		}
	})
}

func TestCrossEntropyErrors(t *testing.T) {
	b := New()
	s := kernels.LossShape{N: 2, K: 3}
	l, p := newT(t, b, kernels.Shape{2}, nil), newT(t, b, kernels.Shape{2, 3}, nil)
	wantErr(t, "bad K", b.CrossEntropy(l, p, p, p, kernels.LossShape{N: 2, K: 0}), kernels.ErrShape, "cross-entropy", "K")
	wantErr(t, "wrong loss", b.CrossEntropy(p, p, p, p, s), kernels.ErrShape, "loss", "[2 3]", "[2]")
	wantErr(t, "nil target", b.CrossEntropy(l, p, p, kernels.Tensor{}, s), kernels.ErrShape, "target is missing")
	wantErr(t, "backward float64 prob", b.CrossEntropyBackward(p, newT(t, New64(), kernels.Shape{2, 3}, nil), p, 1, s), kernels.ErrDType, "cross-entropy backward", "prob")
	wantErr(t, "backward wrong dlogits", b.CrossEntropyBackward(l, p, p, 1, s), kernels.ErrShape, "dlogits")
}
