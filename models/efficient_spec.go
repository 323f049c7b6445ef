package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// The stem and heads of timm's EfficientNet and MobileNet as spec kinds,
// so that an [EfficientArch] is also a [Config] (EfficientArch.Config) that
// models.New builds and the trainer trains, with the "blocks" naming:
//
//   - stem "efficient": conv_stem (3×3, stride 2, no bias) → bn1 → act;
//     Dim channels, stride 2. Key: act ("silu").
//   - head "efficientnet": conv_head (1×1 to Dim) → bn2 → act → global
//     average pool → classifier.
//   - head "mobilenetv4": global average pool → conv_head (1×1 to Dim) →
//     norm_head → act → classifier. Key of both heads: act ("silu").
//
// The four baselines are registered as presets of the same names, so that
// `train` and `train study` accept them as [model] names.
func init() {
	for name := range efficientArchs {
		a, err := EfficientPreset(name, 1000, 0)
		if err != nil {
			panic(err)
		}
		RegisterPreset(name, a.Config())
	}
	RegisterStem("efficient", BlockKind{
		Keys: []string{"act"},
		Check: func(a BlockArgs) error {
			if a.Stride != 2 {
				return fmt.Errorf("field stride: the efficient stem strides 2 (3×3 stride-2 conv), got %d: %w", a.Stride, ErrSpec)
			}
			_, err := efficientAct(a)
			return err
		},
		Cost: func(a BlockArgs, n, h, w int) Cost {
			oh, ow := (h+1)/2, (w+1)/2
			d, p := float64(a.Out), float64(n*oh*ow)
			return Cost{Params: float64(a.In*9)*d + 2*d, Saved: 3*p*d + 2*d, OutH: oh, OutW: ow}
		},
		Build: func(a BlockArgs) (layers.Layer, error) {
			act, _ := efficientAct(a)
			l, err := efficientStem(a.Backend, a.Init, a.In, a.Out, act)
			return layers.NewSequential(a.Name, l...), err
		},
	})
	for _, head := range []string{HeadEfficientNet, HeadMobileNetV4} {
		RegisterHead(head, BlockKind{
			Keys: []string{"act"},
			Check: func(a BlockArgs) error {
				if a.Dim <= 0 || a.Dim > MaxDim {
					return fmt.Errorf("field dim: the %s head's conv_head width %d outside [1, %d]: %w", head, a.Dim, MaxDim, ErrSpec)
				}
				_, err := efficientAct(a)
				return err
			},
			Cost: func(a BlockArgs, n, h, w int) Cost {
				N, in, d, k := float64(n), float64(a.In), float64(a.Dim), float64(a.Out)
				conv := 3 * N * d // conv_head, BatchNorm and activation outputs at 1×1
				if head == HeadEfficientNet {
					conv *= float64(h * w)
				}
				pooled := N * d
				if head == HeadMobileNetV4 {
					pooled = N * in
				}
				return Cost{Params: in*d + 2*d + d*k + k, Saved: conv + 2*d + pooled + N*k, OutH: 1, OutW: 1}
			},
			Build: func(a BlockArgs) (layers.Layer, error) {
				act, _ := efficientAct(a)
				l, err := efficientHead(a.Backend, a.Init, head, a.In, a.Dim, a.Out, act)
				return layers.NewSequential("", l...), err
			},
		})
	}
}

// efficientAct reads the act key of a stem or head.
func efficientAct(a BlockArgs) (kernels.ActivationKind, error) {
	s, err := a.Params.String("act", "silu")
	if err != nil {
		return 0, err
	}
	act, err := kernels.ParseActivation(s)
	if err != nil {
		return 0, fmt.Errorf("field act: %w: %w", err, ErrSpec)
	}
	return act, nil
}

// efficientConvBN returns a k×k convolution without bias named conv,
// BatchNorm bn (PyTorch's defaults) and its activation bn.act.
func efficientConvBN(be kernels.Backend, init *rand.Rand, conv, bn string, cin, cout, k, stride int, act kernels.ActivationKind) ([]layers.Layer, error) {
	c, err := layers.NewConv2D(be, conv, cin, cout, k, stride, k/2, false, init)
	if err != nil {
		return nil, err
	}
	b, err := layers.NewBatchNorm2d(be, bn, cout, layers.DefaultBNEps, layers.DefaultBNMomentum)
	if err != nil {
		return nil, err
	}
	a, err := layers.NewActivation(be, bn+".act", act)
	if err != nil {
		return nil, err
	}
	return []layers.Layer{c, b, a}, nil
}

// efficientStem returns timm's stem: conv_stem (3×3, stride 2; no input
// gradient), bn1 and act, from in to width channels.
func efficientStem(be kernels.Backend, init *rand.Rand, in, width int, act kernels.ActivationKind) ([]layers.Layer, error) {
	l, err := efficientConvBN(be, init, "conv_stem", "bn1", in, width, 3, 2, act)
	if err != nil {
		return nil, err
	}
	l[0].(*layers.Conv2D).NoInputGrad = true
	return l, nil
}

// efficientHead returns the layers of head (HeadEfficientNet or
// HeadMobileNetV4) from in channels through conv_head of width features to
// classes logits.
func efficientHead(be kernels.Backend, init *rand.Rand, head string, in, features, classes int, act kernels.ActivationKind) ([]layers.Layer, error) {
	var out []layers.Layer
	switch head {
	case HeadEfficientNet:
		conv, err := efficientConvBN(be, init, "conv_head", "bn2", in, features, 1, 1, act)
		if err != nil {
			return nil, err
		}
		out = append(conv, layers.NewGlobalAvgPool(be, "global_pool"))
	case HeadMobileNetV4:
		pool := layers.NewGlobalAvgPool(be, "global_pool")
		pool.KeepDims = true // the 1×1 conv_head runs on [N, 1, 1, C]
		conv, err := efficientConvBN(be, init, "conv_head", "norm_head", in, features, 1, 1, act)
		if err != nil {
			return nil, err
		}
		out = append(append([]layers.Layer{pool}, conv...), layers.NewReshape("flatten", features))
	default:
		return nil, fmt.Errorf("head %q unknown (want %s or %s)", head, HeadEfficientNet, HeadMobileNetV4)
	}
	fc, err := layers.NewLinear(be, "classifier", features, classes, true, init)
	if err != nil {
		return nil, err
	}
	return append(out, fc), nil
}

// specKinds maps timm's block kinds to the spec's block kind names
// (models/efficient_kinds.go).
var specKinds = map[string]string{
	layers.KindIR: "mbconv", layers.KindER: "fused_mbconv", layers.KindDS: "dsconv",
	layers.KindCN: "conv_bn_act", layers.KindUIB: "uib",
}

// Config returns the architecture as a spec [Config] with the "blocks"
// naming: the "efficient" stem, one stage per stage of a with every
// block's kind, width and keys spelled out (Blocks), and the a.Head head.
// models.New builds it with the same parameter names, shapes and order as
// NewEfficientNet, so timm's state dicts load into either and the trainer
// trains it like any spec. Drop path follows Config.DropPath's linspace
// (rate·i/(B−1)), not timm's rate·i/B; the blocks' DropPath fields are
// ignored.
func (a EfficientArch) Config() Config {
	c, _ := Variant("convnext_tiny")
	c.Name, c.InChans, c.NumClasses, c.DropPath = a.Name, a.InChans, a.NumClasses, 0
	c.LayerScale, c.Names = 0, "blocks"
	c.Stem = &PartSpec{Kind: "efficient", Dim: a.StemWidth, Stride: 2, Params: Params{"act": a.Act}}
	c.Head = &PartSpec{Kind: a.Head, Dim: a.Features, Params: Params{"act": a.Act}}
	c.Stages = nil
	for _, st := range a.Stages {
		if len(st) == 0 {
			continue
		}
		spec := StageSpec{Kind: specKinds[st[0].Kind], Depth: len(st), Dim: st[len(st)-1].Out, Stride: st[0].Stride}
		for _, b := range st {
			p := Params{"kind": specKinds[b.Kind], "dim": b.Out, "kernel": b.Kernel, "act": b.Act}
			switch b.Kind {
			case layers.KindUIB:
				p["start_kernel"], p["layer_scale"] = b.StartKernel, b.LayerScale
				fallthrough
			case layers.KindIR, layers.KindER:
				p["mid"] = b.Mid
			case layers.KindCN:
				p["skip"] = b.Skip
			}
			if b.SE > 0 && b.Kind != layers.KindCN {
				p["se"] = float64(b.SE) / float64(b.In)
			}
			spec.Blocks = append(spec.Blocks, p)
		}
		c.Stages = append(c.Stages, spec)
	}
	return c.Resolved()
}
