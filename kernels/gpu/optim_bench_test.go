package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// benchGroups splits an arena of n elements into k contiguous groups with
// alternating weight decay (k = 3 is the decay / no-decay / head split;
// larger k stands for layer-wise learning-rate decay with a group per layer
// and decay class).
func benchGroups(n, k int) []kernels.AdamWGroup {
	groups := make([]kernels.AdamWGroup, k)
	for i := range groups {
		lo, hi := i*n/k, (i+1)*n/k
		groups[i] = kernels.AdamWGroup{Offset: lo, Len: hi - lo, LR: 1e-3 / float64(i+1), WeightDecay: 0.05 * float64(i%2)}
	}
	return groups
}

func BenchmarkAdamW(b *testing.B) {
	for _, k := range []int{3, 200} {
		b.Run(fmt.Sprintf("atto/%dgroups", k), func(b *testing.B) {
			e := newMiscBench(b)
			s := kernels.Shape{attoParams}
			p, g, m, v := e.tensor(s, 1), e.tensor(s, 1e-2), e.tensor(s, 0), e.tensor(s, 0)
			if err := e.g.Zero(v); err != nil {
				b.Fatal(err)
			}
			groups := benchGroups(attoParams, k)
			h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
			e.run(28*attoParams, func() error {
				h.Step++
				return e.g.AdamW(p, g, m, v, groups, h)
			})
		})
	}
}

func BenchmarkSGD(b *testing.B) {
	e := newMiscBench(b)
	s := kernels.Shape{attoParams}
	p, g, buf := e.tensor(s, 1), e.tensor(s, 1e-2), e.tensor(s, 1e-2)
	groups := benchGroups(attoParams, 3)
	h := kernels.SGDHyper{Momentum: 0.9, Nesterov: true}
	e.run(20*attoParams, func() error { return e.g.SGD(p, g, buf, groups, h) })
}
