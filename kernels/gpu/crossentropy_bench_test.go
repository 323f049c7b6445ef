package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// ceBenchShapes are the ImageNet-1k loss at batch 128 and a batch of 8 that
// the simulator runs in well under a second (each row is a block with six
// barriers, about 40 ms of simulated threads).
var ceBenchShapes = []kernels.LossShape{{N: 128, K: 1000}, {N: 8, K: 1000}}

func BenchmarkCrossEntropy(b *testing.B) {
	for _, s := range ceBenchShapes {
		b.Run(fmt.Sprintf("%dx%d", s.N, s.K), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(float64(s.N), 8, "rows")
			nk := kernels.Shape{s.N, s.K}
			logits, target, prob := h.rand(nk, 5), h.rand(nk, 1), h.rand(nk, 0)
			loss := h.rand(kernels.Shape{s.N}, 0)
			h.runGBps(12*int64(nk.Len())+4*int64(s.N), func() error { return h.g.CrossEntropy(loss, prob, logits, target, s) })
		})
	}
}

func BenchmarkCrossEntropyBackward(b *testing.B) {
	s := ceBenchShapes[0]
	h := newBench(b)
	nk := kernels.Shape{s.N, s.K}
	prob, target, d := h.rand(nk, 1), h.rand(nk, 1), h.rand(nk, 0)
	h.runGBps(12*int64(nk.Len()), func() error { return h.g.CrossEntropyBackward(d, prob, target, 1/float64(s.N), s) })
}
