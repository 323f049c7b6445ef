package cpu

import (
	"fmt"
	"math"
	"sort"

	"github.com/nextconv/nextconv/kernels"
)

// SGD applies one torch.optim.SGD step (momentum, dampening, Nesterov, L2
// weight decay) to every group's range of the arena p with gradients g and
// momentum buffer buf. See [kernels.OptimOps].
func (b *Backend) SGD(p, g, buf kernels.Tensor, groups []kernels.AdamWGroup, h kernels.SGDHyper) error {
	n := p.Len()
	args := []kernels.Arg{{Name: "p", T: p, Want: kernels.Shape{n}}, {Name: "g", T: g, Want: kernels.Shape{n}}}
	if h.Momentum != 0 {
		args = append(args, kernels.Arg{Name: "buf", T: buf, Want: kernels.Shape{n}})
	}
	if err := kernels.CheckArgs("sgd", b.dt, args...); err != nil {
		return err
	}
	if !(h.Momentum >= 0) || !(h.Dampening >= 0 && h.Dampening <= 1) || (h.Nesterov && (h.Momentum == 0 || h.Dampening != 0)) {
		return fmt.Errorf("sgd: invalid momentum %v dampening %v nesterov %v (Nesterov needs momentum > 0 and dampening 0)", h.Momentum, h.Dampening, h.Nesterov)
	}
	if err := checkGroups("sgd", groups, n); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		sgd(host[float64](p), host[float64](g), host[float64](buf), groups, h)
	} else {
		sgd(host[float32](p), host[float32](g), host[float32](buf), groups, h)
	}
	return nil
}

func sgd[T Float](p, g, buf []T, groups []kernels.AdamWGroup, h kernels.SGDHyper) {
	mom, damp := h.Momentum, h.Dampening
	for _, gr := range groups {
		for i := gr.Offset; i < gr.Offset+gr.Len; i++ {
			d := float64(g[i])
			if gr.WeightDecay != 0 {
				d += gr.WeightDecay * float64(p[i])
			}
			if mom != 0 {
				v := d
				if !h.First {
					v = mom*float64(buf[i]) + (1-damp)*d
				}
				buf[i] = T(v)
				if h.Nesterov {
					d += mom * v
				} else {
					d = v
				}
			}
			p[i] = T(float64(p[i]) - gr.LR*d)
		}
	}
}

// checkGroups returns an error unless every group lies inside [0, n), no two
// groups overlap, and every learning rate and weight decay is finite and
// non-negative.
func checkGroups(op string, groups []kernels.AdamWGroup, n int) error {
	order := make([]int, len(groups))
	for i, gr := range groups {
		if gr.Offset < 0 || gr.Len < 0 || gr.Offset+gr.Len > n {
			return fmt.Errorf("%s: group %d [%d, %d) outside the arena of %d elements: %w", op, i, gr.Offset, gr.Offset+gr.Len, n, kernels.ErrShape)
		}
		if !(gr.LR >= 0 && gr.LR < math.Inf(1)) || !(gr.WeightDecay >= 0 && gr.WeightDecay < math.Inf(1)) {
			return fmt.Errorf("%s: group %d has learning rate %v and weight decay %v; both must be finite and >= 0", op, i, gr.LR, gr.WeightDecay)
		}
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return groups[order[a]].Offset < groups[order[b]].Offset })
	for k := 1; k < len(order); k++ {
		prev, cur := groups[order[k-1]], groups[order[k]]
		if cur.Offset < prev.Offset+prev.Len {
			return fmt.Errorf("%s: groups %d and %d overlap: %w", op, order[k-1], order[k], kernels.ErrShape)
		}
	}
	return nil
}
