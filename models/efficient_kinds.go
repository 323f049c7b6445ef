package models

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/layers"
)

// The MobileNet/EfficientNet block kinds of a spec's stages
// (docs/EFFICIENT.md §2), each a [layers.EfficientBlock]: "mbconv" (timm's
// ir), "fused_mbconv" (er), "dsconv" (ds), "conv_bn_act" (cn) and "uib"
// (uir). They stride and change width themselves, so their stages need no
// downsample. Keys (defaults): kernel (3; uib's middle depthwise, 0 for
// none), start_kernel (uib only, 0), expand (4: mid = roundFilters(in·expand,
// 8)), mid (an explicit expanded width, e.g. a pruned one), se (0: none;
// else the SE width round(in·se), from the block's input as timm does), act
// ("silu"; any kernels.ActivationKind name), layer_scale (uib only, 0) and
// skip (conv_bn_act only: residual when the shapes allow).
func init() {
	for kind, timm := range map[string]string{
		"mbconv": layers.KindIR, "fused_mbconv": layers.KindER, "dsconv": layers.KindDS,
		"conv_bn_act": layers.KindCN, "uib": layers.KindUIB,
	} {
		keys := []string{"kernel", "se", "act"}
		switch timm {
		case layers.KindIR, layers.KindER:
			keys = append(keys, "expand", "mid")
		case layers.KindUIB:
			keys = append(keys, "expand", "mid", "start_kernel", "layer_scale")
		case layers.KindCN:
			keys = []string{"kernel", "act", "skip"}
		}
		RegisterBlock(kind, BlockKind{
			Keys: keys,
			Check: func(a BlockArgs) error {
				_, err := efficientConfig(a, timm)
				return err
			},
			Cost: func(a BlockArgs, n, h, w int) Cost {
				c, _ := efficientConfig(a, timm)
				return efficientCost(c, n, h, w)
			},
			Build: func(a BlockArgs) (layers.Layer, error) {
				c, err := efficientConfig(a, timm)
				if err != nil {
					return nil, err
				}
				return layers.NewEfficientBlock(a.Backend, a.Name, c, a.Init, a.DropRNG)
			},
		})
	}
}

// efficientConfig reads a stage block's keys into the EfficientConfig of
// timm kind kind; its errors name the field.
func efficientConfig(a BlockArgs, kind string) (layers.EfficientConfig, error) {
	c := layers.EfficientConfig{Kind: kind, In: a.In, Out: a.Out, Stride: a.Stride, DropPath: a.DropPath, BNEps: layers.DefaultBNEps, BNMomentum: layers.DefaultBNMomentum}
	p := a.Params
	var err error
	var expand, se float64
	if c.Kernel, err = p.Int("kernel", 3); err != nil {
		return c, err
	}
	if c.StartKernel, err = p.Int("start_kernel", 0); err != nil {
		return c, err
	}
	if expand, err = p.Float("expand", 4); err != nil {
		return c, err
	}
	if c.Mid, err = p.Int("mid", 0); err != nil {
		return c, err
	}
	if se, err = p.Float("se", 0); err != nil {
		return c, err
	}
	if c.Act, err = p.String("act", "silu"); err != nil {
		return c, err
	}
	if c.LayerScale, err = p.Float("layer_scale", 0); err != nil {
		return c, err
	}
	if c.Skip, err = p.Bool("skip", false); err != nil {
		return c, err
	}
	switch {
	case !(expand > 0 && expand <= MaxMLPRatio):
		return c, fmt.Errorf("field expand: %v outside (0, %d]: %w", expand, MaxMLPRatio, ErrSpec)
	case !(se >= 0 && se <= 1):
		return c, fmt.Errorf("field se: %v outside [0, 1]: %w", se, ErrSpec)
	case c.Mid < 0 || c.Mid > MaxMLPRatio*MaxDim:
		return c, fmt.Errorf("field mid: %d outside [1, %d]: %w", c.Mid, MaxMLPRatio*MaxDim, ErrSpec)
	case c.Kernel > MaxKernel || c.StartKernel > MaxKernel:
		return c, fmt.Errorf("field kernel: %d and start_kernel %d must be at most %d: %w", c.Kernel, c.StartKernel, MaxKernel, ErrSpec)
	}
	if c.Mid == 0 && kind != layers.KindDS && kind != layers.KindCN {
		c.Mid = roundFilters(float64(a.In)*expand, 8)
	}
	if se > 0 && kind != layers.KindCN {
		c.SE = max(1, int(math.RoundToEven(float64(a.In)*se)))
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", err, ErrSpec)
	}
	return c, nil
}

// efficientCost counts an efficient block as Describe lists it: every
// convolution's, BatchNorm's (plus its two statistics per channel) and
// activation's output; SE's pooled input, reduced and expanded logits and
// gated output; layer scale; drop path (output and mask when its rate is
// positive) and the residual sum.
func efficientCost(c layers.EfficientConfig, n, h, w int) Cost {
	oh, ow := (h+c.Stride-1)/c.Stride, (w+c.Stride-1)/c.Stride
	N := float64(n)
	in, out := N*float64(h*w), N*float64(oh*ow) // pixels before and after the stride
	var saved float64
	convBN := func(pixels float64, ch int, act bool) {
		saved += 2*pixels*float64(ch) + 2*float64(ch)
		if act {
			saved += pixels * float64(ch)
		}
	}
	se := func(pixels float64, ch int) {
		if c.SE > 0 {
			saved += 2*N*float64(ch) + 2*N*float64(c.SE) + pixels*float64(ch)
		}
	}
	switch c.Kind {
	case layers.KindDS:
		convBN(out, c.In, true)
		se(out, c.In)
		convBN(out, c.Out, false)
	case layers.KindIR:
		convBN(in, c.Mid, true)
		convBN(out, c.Mid, true)
		se(out, c.Mid)
		convBN(out, c.Out, false)
	case layers.KindER:
		convBN(out, c.Mid, true)
		se(out, c.Mid)
		convBN(out, c.Out, false)
	case layers.KindCN:
		convBN(out, c.Out, true)
	case layers.KindUIB:
		mid := in // resolution of the expansion: after dw_start's stride when it has it
		if c.StartKernel > 0 {
			if c.Kernel == 0 {
				mid = out
			}
			convBN(mid, c.In, false)
		}
		convBN(mid, c.Mid, true)
		if c.Kernel > 0 {
			convBN(out, c.Mid, true)
		}
		se(out, c.Mid)
		convBN(out, c.Out, false)
		if c.LayerScale > 0 {
			saved += out * float64(c.Out)
		}
	}
	if c.HasResidual() {
		saved += out * float64(c.Out) // the sum
		if c.DropPath > 0 {
			saved += out*float64(c.Out) + N
		}
	}
	return Cost{Params: float64(c.NumParams()), Saved: saved, OutH: oh, OutW: ow}
}
