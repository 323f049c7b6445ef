package gpu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// ceTargets returns the target rows [N, K] of one kind: "one-hot", "smoothed"
// (label smoothing ε = 0.1: (1−ε)·onehot + ε/K), "mixup" (λ·onehot(a) +
// (1−λ)·onehot(b), λ = 0.7) or "soft" (a random distribution).
func ceTargets(p *pair, kind string, N, K int) []float32 {
	t := make([]float32, N*K)
	for n := range N {
		row := t[n*K : (n+1)*K]
		a, b := (3*n+1)%K, (5*n+2)%K
		switch kind {
		case "one-hot":
			row[a] = 1
		case "smoothed":
			for k := range row {
				row[k] = 0.1 / float32(K)
			}
			row[a] += 0.9
		case "mixup":
			row[a] += 0.7
			row[b] += 0.3
		case "soft":
			var sum float64
			w := make([]float64, K)
			for k := range w {
				w[k] = p.rng.Float64()
				sum += w[k]
			}
			for k := range row {
				row[k] = float32(w[k] / sum)
			}
		}
	}
	return t
}

func TestCrossEntropyMatchesCPU(t *testing.T) {
	p := newPair(t, 30)
	for _, s := range []kernels.LossShape{{N: 3, K: 7}, {N: 1, K: 1}, {N: 2, K: 37}, {N: 2, K: 1000}, {N: 4, K: 10}} {
		for _, kind := range []string{"one-hot", "smoothed", "mixup", "soft"} {
			for _, alias := range []bool{false, true} {
				name := fmt.Sprintf("cross-entropy %+v %s", s, kind)
				nk := kernels.Shape{s.N, s.K}
				lc, lg := p.in(nk, 8)
				tc, tg := p.from(nk, ceTargets(p, kind, s.N, s.K))
				pc, pg := p.out(nk)
				if alias {
					name += ", prob = logits"
					pc, pg = lc, lg
				}
				lossc, lossg := p.out(kernels.Shape{s.N})
				p.ok(p.cpu.CrossEntropy(lossc, pc, lc, tc, s))
				p.ok(p.gpu.CrossEntropy(lossg, pg, lg, tg, s))
				p.same(name+" loss", lossc, lossg, 1e-6, 1e-7)
				p.same(name+" prob", pc, pg, 1e-6, 1e-9)

				dc, dg := p.out(nk)
				p.ok(p.cpu.CrossEntropyBackward(dc, pc, tc, 1/float64(s.N), s))
				p.ok(p.gpu.CrossEntropyBackward(dg, pg, tg, 1/float64(s.N), s))
				p.same(name+" dlogits", dc, dg, 1e-6, 1e-9)
				// dlogits aliasing prob.
				p.ok(p.cpu.CrossEntropyBackward(pc, pc, tc, 0.5, s))
				p.ok(p.gpu.CrossEntropyBackward(pg, pg, tg, 0.5, s))
				p.same(name+" dlogits = prob", pc, pg, 1e-6, 1e-9)
			}
		}
	}
}

// TestCrossEntropyLargeLogits checks the stable log-sum-exp: logits of
// ±1e4 (whose exp overflows even float64 without the max shift) give
// finite losses and probabilities that match the CPU and closed forms, and
// a −Inf logit of a class without target mass contributes nothing.
func TestCrossEntropyLargeLogits(t *testing.T) {
	p := newPair(t, 31)
	s := kernels.LossShape{N: 3, K: 4}
	inf := float32(math.Inf(-1))
	logits := []float32{
		1e4, -1e4, 9990, 0, // row 0: huge spread
		88, 88, 88, 88, // row 1: equal large logits, uniform softmax
		5, inf, 3, 1, // row 2: −Inf logit, target 0 there
	}
	target := []float32{
		0, 0, 1, 0,
		0.25, 0.25, 0.25, 0.25,
		1, 0, 0, 0,
	}
	nk := kernels.Shape{s.N, s.K}
	lc, lg := p.from(nk, logits)
	tc, tg := p.from(nk, target)
	pc, pg := p.out(nk)
	lossc, lossg := p.out(kernels.Shape{s.N})
	p.ok(p.cpu.CrossEntropy(lossc, pc, lc, tc, s))
	p.ok(p.gpu.CrossEntropy(lossg, pg, lg, tg, s))
	p.same("large-logit loss", lossc, lossg, 1e-6, 0)
	p.same("large-logit prob", pc, pg, 1e-6, 1e-30)
	loss := make([]float32, s.N)
	p.ok(p.gpu.Download(loss, lossg))
	lse2 := 5 + math.Log(1+math.Exp(-2)+math.Exp(-4))
	for n, want := range []float64{10 + math.Log1p(math.Exp(-10)), math.Log(4), lse2 - 5} {
		if math.Abs(float64(loss[n])-want) > 1e-6*math.Max(1, want) {
			t.Errorf("row %d: loss %v, want %v", n, loss[n], want)
		}
	}
}

func TestCrossEntropyErrors(t *testing.T) {
	p := newPair(t, 32)
	s := kernels.LossShape{N: 2, K: 3}
	_, l := p.in(kernels.Shape{2, 3}, 1)
	_, tg := p.in(kernels.Shape{2, 3}, 1)
	_, pr := p.out(kernels.Shape{2, 3})
	_, loss := p.out(kernels.Shape{2})
	_, short := p.out(kernels.Shape{5})
	hostT, _ := p.cpu.Alloc(kernels.Shape{2, 3})
	wantErrors(t, []errCase{
		{"zero K", p.gpu.CrossEntropy(loss, pr, l, tg, kernels.LossShape{N: 2}), kernels.ErrShape},
		{"short prob", p.gpu.CrossEntropy(loss, short, l, tg, s), kernels.ErrShape},
		{"loss of 6", p.gpu.CrossEntropy(pr, pr, l, tg, s), kernels.ErrShape},
		{"nil target", p.gpu.CrossEntropy(loss, pr, l, kernels.Tensor{}, s), kernels.ErrShape},
		{"host logits", p.gpu.CrossEntropy(loss, pr, hostT, tg, s), kernels.ErrDType},
		{"backward zero N", p.gpu.CrossEntropyBackward(l, pr, tg, 1, kernels.LossShape{K: 3}), kernels.ErrShape},
		{"backward short dlogits", p.gpu.CrossEntropyBackward(short, pr, tg, 1, s), kernels.ErrShape},
		{"backward host target", p.gpu.CrossEntropyBackward(l, pr, hostT, 1, s), kernels.ErrDType},
	})
}

// TestCrossEntropyBF16 runs the loss on bf16 logits (bf16 autocast: the
// softmax, loss and probabilities in float32, dlogits written bf16)
// against the CPU emulation on odd class counts and every kind of target:
// loss and prob to the float32 test's tolerances, dlogits within one bf16
// ulp.
func TestCrossEntropyBF16(t *testing.T) {
	p := newPair(t, 31)
	for _, s := range []kernels.LossShape{{N: 3, K: 7}, {N: 1, K: 1}, {N: 2, K: 37}, {N: 2, K: 1000}, {N: 5, K: 9}} {
		for _, kind := range []string{"one-hot", "smoothed", "mixup", "soft"} {
			name := fmt.Sprintf("cross-entropy bf16 %+v %s", s, kind)
			nk := kernels.Shape{s.N, s.K}
			lc, lg := p.in16(nk, 8)
			tc, tg := p.from(nk, ceTargets(p, kind, s.N, s.K))
			pc, pg := p.out(nk)
			lossc, lossg := p.out(kernels.Shape{s.N})
			p.ok(p.cpu.CrossEntropy(lossc, pc, lc, tc, s))
			p.ok(p.gpu.CrossEntropy(lossg, pg, lg, tg, s))
			p.same(name+" loss", lossc, lossg, 1e-6, 1e-7)
			p.same(name+" prob", pc, pg, 1e-6, 1e-9)
			dc, dg := p.out16(nk)
			p.ok(p.cpu.CrossEntropyBackward(dc, pc, tc, 1/float64(s.N), s))
			p.ok(p.gpu.CrossEntropyBackward(dg, pg, tg, 1/float64(s.N), s))
			p.same16(name+" dlogits", dc, dg, 0)
		}
	}
	// A bf16 prob is refused, naming it: the probabilities stay float32.
	nk := kernels.Shape{2, 3}
	_, lg := p.in16(nk, 1)
	_, tg := p.in(nk, 1)
	_, pg := p.out16(nk)
	_, lossg := p.out(kernels.Shape{2})
	if err := p.gpu.CrossEntropy(lossg, pg, lg, tg, kernels.LossShape{N: 2, K: 3}); !errors.Is(err, kernels.ErrDType) || !strings.Contains(err.Error(), "prob") {
		t.Errorf("bf16 prob: %v, want an ErrDType naming prob", err)
	}
}
