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
			h := newBench(b)
			s := kernels.Shape{attoParams}
			p, g, m, v := h.rand(s, 1), h.rand(s, 1e-2), h.rand(s, 0), h.rand(s, 0)
			if err := h.g.Zero(v); err != nil {
				b.Fatal(err)
			}
			groups := benchGroups(attoParams, k)
			hp := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
			h.runGBps(28*attoParams, func() error {
				hp.Step++
				return h.g.AdamW(p, g, m, v, groups, hp)
			})
		})
	}
}

func BenchmarkSGD(b *testing.B) {
	h := newBench(b)
	s := kernels.Shape{attoParams}
	p, g, buf := h.rand(s, 1), h.rand(s, 1e-2), h.rand(s, 1e-2)
	groups := benchGroups(attoParams, 3)
	hp := kernels.SGDHyper{Momentum: 0.9, Nesterov: true}
	h.runGBps(20*attoParams, func() error { return h.g.SGD(p, g, buf, groups, hp) })
}
