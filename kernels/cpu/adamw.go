package cpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// AdamW applies one step of AdamW (Loshchilov & Hutter 2019) to the
// parameter arena p with gradients g and first and second moments m and v,
// all four of the same number of elements. Each group covers the range
// [Offset, Offset+Len) with its own learning rate and decoupled weight decay;
// elements outside every group (p, m and v alike) are left untouched. The
// arithmetic follows PyTorch 1.13's torch.optim.AdamW (_single_tensor_adamw,
// foreach=False, amsgrad=False, maximize=False), in this order, with
// t = h.Step:
//
//	p  = p·(1 − lr·wd)
//	m  = β1·m + (1 − β1)·g
//	v  = β2·v + (1 − β2)·g·g
//	bias_correction1 = 1 − β1^t,  bias_correction2 = 1 − β2^t
//	denom = sqrt(v)/sqrt(bias_correction2) + eps
//	p  = p + (−lr/bias_correction1)·m/denom
//
// Each line is computed in float64 and rounded to the backend's dtype where
// PyTorch stores a tensor (p after the decay, m, v, the new p), so on the
// float32 backend p, m and v follow PyTorch's float32 sequence to within an
// ulp per line. It returns an error wrapping
// kernels.ErrShape for a missing or mis-sized tensor or a group that is out
// of range or overlaps another, kernels.ErrDType for a wrong dtype, and an
// error for hyper-parameters PyTorch rejects: β1, β2 outside [0, 1), eps, lr
// or weight decay negative or not finite, or Step < 1.
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	const op = "cpu adamw"
	if err := b.checkArgs(op, kernels.Arg{Name: "p", T: p, Want: p.Shape}, kernels.Arg{Name: "g", T: g, Want: p.Shape},
		kernels.Arg{Name: "m", T: m, Want: p.Shape}, kernels.Arg{Name: "v", T: v, Want: p.Shape}); err != nil {
		return err
	}
	if err := checkAdamW(op, p.Len(), groups, h); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		adamW(b, host[float64](p), host[float64](g), host[float64](m), host[float64](v), nil, groups, h)
	} else {
		adamW(b, host[float32](p), host[float32](g), host[float32](m), host[float32](v), nil, groups, h)
	}
	return nil
}

// AdamWBF16 is AdamW that also writes p16[i] = bf16(p[i]) (nearest even)
// of every updated element in the same loop (kernels.OptimOps.AdamWBF16):
// the bf16 weight copy the matrix products read in bf16 precision. p16 is
// a BFloat16 tensor of p's length. Errors as for AdamW, and one wrapping
// kernels.ErrDType if p16 is not BFloat16 or the backend is float64.
func (b *Backend) AdamWBF16(p, g, m, v, p16 kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	const op = "cpu adamw-bf16"
	if err := b.checkArgs(op, kernels.Arg{Name: "p", T: p, Want: p.Shape}, kernels.Arg{Name: "g", T: g, Want: p.Shape},
		kernels.Arg{Name: "m", T: m, Want: p.Shape}, kernels.Arg{Name: "v", T: v, Want: p.Shape},
		kernels.Arg{Name: "p16", T: p16, Want: p.Shape}); err != nil {
		return err
	}
	low, ok := p16.Data.(kernels.BF16Host)
	if !ok {
		return fmt.Errorf("%s: p16 is %v, want bfloat16: %w", op, p16, kernels.ErrDType)
	}
	if err := checkAdamW(op, p.Len(), groups, h); err != nil {
		return err
	}
	adamW(b, host[float32](p), host[float32](g), host[float32](m), host[float32](v), low, groups, h)
	return nil
}

// checkAdamW validates the hyper-parameters and the groups (the rules both
// backends share, kernels.CheckGroups and AdamWHyper.Validate).
func checkAdamW(op string, n int, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return kernels.CheckGroups(op, groups, n)
}

// adamWCost is parallelFor's cost of one AdamW element (four loads, three
// stores, a square root and a division).
const adamWCost = 12

// adamW updates p, m and v over the groups and, when p16 is not nil (T is
// then float32), writes the rounded new p into p16.
func adamW[T Float](b *Backend, p, g, m, v []T, p16 []float32, groups []kernels.AdamWGroup, h kernels.AdamWHyper) {
	b1, b2, eps := h.Beta1, h.Beta2, h.Eps
	t := float64(h.Step)
	bc1 := 1 - math.Pow(b1, t)
	bc2Sqrt := math.Sqrt(1 - math.Pow(b2, t))
	for _, gr := range groups {
		if gr.Len == 0 {
			continue
		}
		decay := 1 - gr.LR*gr.WeightDecay
		negStep := -(gr.LR / bc1)
		ps, gs := p[gr.Offset:gr.Offset+gr.Len], g[gr.Offset:gr.Offset+gr.Len]
		ms, vs := m[gr.Offset:gr.Offset+gr.Len], v[gr.Offset:gr.Offset+gr.Len]
		b.parallelFor(gr.Len, adamWCost, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gi := float64(gs[i])
				pi := float64(T(float64(ps[i]) * decay))
				mi := T(float64(ms[i])*b1 + (1-b1)*gi)
				vi := T(float64(vs[i])*b2 + (1-b2)*gi*gi)
				denom := math.Sqrt(float64(vi))/bc2Sqrt + eps
				ps[i] = T(pi + negStep*float64(mi)/denom)
				ms[i], vs[i] = mi, vi
			}
			if p16 != nil {
				for i := lo; i < hi; i++ {
					p16[gr.Offset+i] = bfloat16.Round(float32(ps[i]))
				}
			}
		})
	}
}
