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
			e := newMiscBench(b)
			e.simLimit(s.N, 8)
			nk := kernels.Shape{s.N, s.K}
			logits, target, prob := e.tensor(nk, 5), e.tensor(nk, 1), e.tensor(nk, 0)
			loss := e.tensor(kernels.Shape{s.N}, 0)
			e.run(12*int64(nk.Len())+4*int64(s.N), func() error { return e.g.CrossEntropy(loss, prob, logits, target, s) })
		})
	}
}

func BenchmarkCrossEntropyBackward(b *testing.B) {
	s := ceBenchShapes[0]
	e := newMiscBench(b)
	nk := kernels.Shape{s.N, s.K}
	prob, target, d := e.tensor(nk, 1), e.tensor(nk, 1), e.tensor(nk, 0)
	e.run(12*int64(nk.Len()), func() error { return e.g.CrossEntropyBackward(d, prob, target, 1/float64(s.N), s) })
}
