package cpu

import (
	"fmt"

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
	if err := b.checkArgs("sgd", args...); err != nil {
		return err
	}
	if err := h.Validate(); err != nil {
		return fmt.Errorf("sgd: %w", err)
	}
	if err := kernels.CheckGroups("sgd", groups, n); err != nil {
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
