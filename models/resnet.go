package models

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// The ResNet parts (He et al. 2016; ResNeXt, Xie et al. 2017), built as
// timm's resnet.py builds them at commit aa4b5850 and named as its state
// dict with the "resnet" naming (conv1, bn1, layerI.J.*, fc):
//
//   - stem "resnet": conv1 (7×7, stride 2, pad 3, no bias) → bn1 → ReLU →
//     3×3 stride-2 pad-1 max pool; Dim channels, total stride 4. Stride 2
//     leaves the max pool out (the usual stem for small images, which the
//     roadmap study at 28² uses).
//   - block "bottleneck": conv1 (1×1 to mid) → bn1 → ReLU → conv2 (3×3,
//     the block's stride, groups) → bn2 → ReLU → conv3 (1×1 to dim) → bn3,
//     plus the shortcut (the identity, or downsample.0 1×1 conv with the
//     stride → downsample.1 BatchNorm when the block strides or changes
//     width), then ReLU. mid = floor(dim/4 · base_width/64) · groups (timm's
//     width = int(planes · base_width/64) · cardinality with planes =
//     dim/4). Keys: groups (1), base_width (64), mid (an explicit width).
//     The stride sits on the 3×3 as in timm (ResNet v1.5).
//   - head "pool_linear": global average pool → fc.
//
// BatchNorm uses PyTorch's defaults (eps 1e-5, momentum 0.1).
func init() {
	RegisterStem("resnet", BlockKind{Check: checkResNetStem, Cost: resnetStemCost, Build: buildResNetStem})
	RegisterBlock("bottleneck", BlockKind{
		Keys: []string{"groups", "base_width", "mid"},
		Check: func(a BlockArgs) error {
			_, _, err := bottleneckWidth(a)
			return err
		},
		Cost:  bottleneckCost,
		Build: buildBottleneck,
	})
	RegisterHead("pool_linear", BlockKind{
		Check: noHeadDim("pool_linear"),
		Cost: func(a BlockArgs, n, _, _ int) Cost {
			N, d, k := float64(n), float64(a.In), float64(a.Out)
			return Cost{Params: d*k + k, Saved: N*d + N*k, OutH: 1, OutW: 1}
		},
		Build: func(a BlockArgs) (layers.Layer, error) {
			fc, err := layers.NewLinear(a.Backend, layers.Join(a.Name, "fc"), a.In, a.Out, true, a.Init)
			if err != nil {
				return nil, err
			}
			return layers.NewSequential("", layers.NewGlobalAvgPool(a.Backend, layers.Join(a.Name, "global_pool")), fc), nil
		},
	})
	for name, p := range map[string]Params{
		"resnet50":        {},
		"resnext50_32x4d": {"groups": 32, "base_width": 4},
	} {
		RegisterPreset(name, resnetPreset([]int{3, 4, 6, 3}, p))
	}
}

// resnetPreset returns a ResNet of bottleneck stages with the given depths
// (widths 256, 512, 1024, 2048), the resnet stem (64 channels) and the
// pool_linear head, 3 input channels and 1000 classes, as timm publishes
// resnet50 (25,557,032 parameters) and resnext50_32x4d (25,028,904).
func resnetPreset(depths []int, block Params) Config {
	c, _ := Variant("convnext_tiny")
	c.LayerScale, c.Names = 0, "resnet"
	c.Stem = &PartSpec{Kind: "resnet", Dim: 64, Stride: 4}
	c.Head = &PartSpec{Kind: "pool_linear"}
	c.Stages = nil
	for i, d := range depths {
		c.Stages = append(c.Stages, StageSpec{Kind: "bottleneck", Depth: d, Dim: 256 << i, Params: block.Merge(nil)})
	}
	return c.Resolved()
}

func checkResNetStem(a BlockArgs) error {
	if a.Stride != 4 && a.Stride != 2 {
		return fmt.Errorf("field stride: the resnet stem strides 4 (7×7 stride-2 conv, stride-2 max pool) or 2 (no max pool), got %d: %w", a.Stride, ErrSpec)
	}
	return nil
}

// resnetStemCost: conv, BatchNorm (output and two statistics per channel)
// and ReLU at half resolution, then the pooled output (stride 4).
func resnetStemCost(a BlockArgs, n, h, w int) Cost {
	h1, w1 := (h+1)/2, (w+1)/2
	d := float64(a.Out)
	p1 := float64(n * h1 * w1)
	c := Cost{Params: float64(a.In*49)*d + 2*d, Saved: 3*p1*d + 2*d, OutH: h1, OutW: w1}
	if a.Stride == 4 {
		c.OutH, c.OutW = (h1+1)/2, (w1+1)/2
		c.Saved += float64(n*c.OutH*c.OutW) * d
	}
	return c
}

func buildResNetStem(a BlockArgs) (layers.Layer, error) {
	b := convBNBuilder{a: a}
	b.convBN("conv1", "bn1", a.In, a.Out, 7, 2, 1, true)
	if a.Stride == 4 {
		b.add(layers.NewMaxPool2d(a.Backend, layers.Join(a.Name, "maxpool"), 3, 2, 1))
	}
	if b.err != nil {
		return nil, b.err
	}
	b.body[0].(*layers.Conv2D).NoInputGrad = true
	return layers.NewSequential(a.Name, b.body...), nil
}

// bottleneckWidth returns a bottleneck block's middle width and groups;
// its errors name the field.
func bottleneckWidth(a BlockArgs) (mid, groups int, err error) {
	if groups, err = a.Params.Int("groups", 1); err != nil {
		return 0, 0, err
	}
	base, err := a.Params.Int("base_width", 64)
	if err != nil {
		return 0, 0, err
	}
	if mid, err = a.Params.Int("mid", 0); err != nil {
		return 0, 0, err
	}
	if groups <= 0 || groups > MaxDim || base <= 0 || base > MaxDim {
		return 0, 0, fmt.Errorf("field groups: %d and base_width %d must be in [1, %d]: %w", groups, base, MaxDim, ErrSpec)
	}
	if mid == 0 {
		mid = a.Out / 4 * base / 64 * groups
	}
	switch {
	case mid <= 0 || mid > MaxMLPRatio*MaxDim:
		return 0, 0, fmt.Errorf("field mid: %d outside [1, %d]: %w", mid, MaxMLPRatio*MaxDim, ErrSpec)
	case mid%groups != 0:
		return 0, 0, fmt.Errorf("field groups: %d does not divide the middle width %d: %w", groups, mid, ErrSpec)
	case a.Stride > 2:
		return 0, 0, fmt.Errorf("field stride: a bottleneck strides 1 or 2, got %d: %w", a.Stride, ErrSpec)
	}
	return mid, groups, nil
}

// projects reports whether a block needs the projection shortcut.
func projects(a BlockArgs) bool { return a.Stride != 1 || a.In != a.Out }

// bottleneckCost counts each convolution's and BatchNorm's output, two
// statistics per channel, the ReLUs, drop path, the sum and the last ReLU.
func bottleneckCost(a BlockArgs, n, h, w int) Cost {
	mid, groups, _ := bottleneckWidth(a)
	oh, ow := (h+a.Stride-1)/a.Stride, (w+a.Stride-1)/a.Stride
	in, out := float64(n*h*w), float64(n*oh*ow)
	m, d := float64(mid), float64(a.Out)
	params := float64(a.In)*m + 2*m + m*m/float64(groups)*9 + 2*m + m*d + 2*d
	saved := 3*in*m + 2*m + 3*out*m + 2*m + 2*out*d + 2*d
	if projects(a) {
		params += float64(a.In)*d + 2*d
		saved += 2*out*d + 2*d
	}
	if a.DropPath > 0 {
		saved += out*d + float64(n)
	}
	return Cost{Params: params, Saved: saved + 2*out*d, OutH: oh, OutW: ow}
}

func buildBottleneck(a BlockArgs) (layers.Layer, error) {
	mid, groups, err := bottleneckWidth(a)
	if err != nil {
		return nil, err
	}
	body := convBNBuilder{a: a}
	body.convBN("conv1", "bn1", a.In, mid, 1, 1, 1, true)
	body.convBN("conv2", "bn2", mid, mid, 3, a.Stride, groups, true)
	body.convBN("conv3", "bn3", mid, a.Out, 1, 1, 1, false)
	body.add(layers.NewDropPath(a.Backend, layers.Join(a.Name, "drop_path"), a.DropPath, a.DropRNG))
	if body.err != nil {
		return nil, body.err
	}
	res := layers.NewResidual(a.Backend, a.Name, layers.NewSequential(layers.Join(a.Name, "body"), body.body...))
	if projects(a) {
		sc := convBNBuilder{a: a}
		sc.convBN("downsample.0", "downsample.1", a.In, a.Out, 1, a.Stride, 1, false)
		if sc.err != nil {
			return nil, sc.err
		}
		res.Shortcut = layers.NewSequential(layers.Join(a.Name, "downsample"), sc.body...)
	}
	act, err := layers.NewActivation(a.Backend, layers.Join(a.Name, "act3"), kernels.ReLU)
	if err != nil {
		return nil, err
	}
	return layers.NewSequential(a.Name, res, act), nil
}

// convBNBuilder collects convolution, BatchNorm and ReLU layers under a
// part's name, keeping the first error.
type convBNBuilder struct {
	a    BlockArgs
	body []layers.Layer
	err  error
}

func (b *convBNBuilder) add(l layers.Layer, err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
	if b.err == nil {
		b.body = append(b.body, l)
	}
}

// convBN appends a k×k convolution without bias (padding k/2, groups),
// BatchNorm named bn and, when relu, a ReLU named bn.act.
func (b *convBNBuilder) convBN(conv, bn string, cin, cout, k, stride, groups int, relu bool) {
	be, name := b.a.Backend, b.a.Name
	b.add(layers.NewGroupedConv2D(be, layers.Join(name, conv), cin, cout, k, stride, k/2, groups, false, b.a.Init))
	b.add(layers.NewBatchNorm2d(be, layers.Join(name, bn), cout, layers.DefaultBNEps, layers.DefaultBNMomentum))
	if relu {
		act, err := layers.NewActivation(be, layers.Join(name, bn+".act"), kernels.ReLU)
		b.add(act, err)
	}
}
