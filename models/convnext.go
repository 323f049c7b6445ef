package models

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// The ConvNeXt parts (official models/convnextv2.py and models/convnext.py;
// timm's convnext.py names): the "patchify" stem, the "convnext" block and
// downsample, and the "norm_linear" head. The patchify stem's key norm
// ("layernorm", the default, or "batchnorm": the ConvNeXt roadmap's steps
// before its BN → LN step, docs/ROADMAP.md) picks its normalisation; with
// BatchNorm the conv has no bias, as every conv a BatchNorm follows.
func init() {
	RegisterStem("patchify", BlockKind{
		Keys: []string{"norm"},
		Check: func(a BlockArgs) error {
			_, err := normKind(a.Params, "norm")
			return err
		},
		Cost:  patchifyCost,
		Build: buildPatchify,
	})
	RegisterDownsample("convnext", BlockKind{Check: func(BlockArgs) error { return nil }, Cost: convnextDownsampleCost, Build: buildConvNeXtDownsample})
	RegisterBlock("convnext", BlockKind{
		Keys:       []string{"kernel", "mlp_ratio", "hidden", "grn", "layer_scale", "se", "eca"},
		Downsample: "convnext",
		Check: func(a BlockArgs) error {
			_, err := convnextBlock(a)
			return err
		},
		Cost:  convnextBlockCost,
		Build: buildConvNeXtBlock,
	})
	RegisterHead("norm_linear", BlockKind{Check: noHeadDim("norm_linear"), Cost: normLinearCost, Build: buildNormLinear})
}

// noHeadDim returns the Check of a head kind without a width of its own:
// a dim is an error naming the field.
func noHeadDim(kind string) func(BlockArgs) error {
	return func(a BlockArgs) error {
		if a.Dim != 0 {
			return fmt.Errorf("field dim: the %s head has no width of its own (got %d): %w", kind, a.Dim, ErrSpec)
		}
		return nil
	}
}

// patchifyCost: Conv2D k=s=Stride (with bias under LayerNorm), then
// LayerNorm (output and two statistics per pixel) or BatchNorm (output and
// two statistics per channel).
func patchifyCost(a BlockArgs, n, h, w int) Cost {
	H, W := h/a.Stride, w/a.Stride
	p, d := float64(n)*float64(H)*float64(W), float64(a.Out)
	c := Cost{Params: float64(a.In*a.Stride*a.Stride)*d + 2*d, Saved: p * d, OutH: H, OutW: W}
	nk, _ := normKind(a.Params, "norm")
	c.Params += nk.biasParams(d)
	c.Saved += nk.saved(p, d)
	return c
}

func buildPatchify(a BlockArgs) (layers.Layer, error) {
	nk, err := normKind(a.Params, "norm")
	if err != nil {
		return nil, err
	}
	conv, err := layers.NewConv2D(a.Backend, layers.Join(a.Name, "0"), a.In, a.Out, a.Stride, a.Stride, 0, nk.bias(), a.Init)
	if err != nil {
		return nil, err
	}
	conv.NoInputGrad = true
	norm, err := nk.build(a, layers.Join(a.Name, "1"), a.Out)
	if err != nil {
		return nil, err
	}
	return layers.NewSequential(a.Name, conv, norm), nil
}

// convnextDownsampleCost: LayerNorm at the input resolution, then a
// k=s=Stride conv.
func convnextDownsampleCost(a BlockArgs, n, h, w int) Cost {
	p := float64(n) * float64(h) * float64(w)
	H, W := h/a.Stride, w/a.Stride
	in, out, k := float64(a.In), float64(a.Out), float64(a.Stride*a.Stride)
	return Cost{
		Params: 2*in + k*in*out + out,
		Saved:  p*in + 2*p + float64(n)*float64(H)*float64(W)*out, OutH: H, OutW: W,
	}
}

func buildConvNeXtDownsample(a BlockArgs) (layers.Layer, error) {
	norm, err := layers.NewLayerNorm(a.Backend, layers.Join(a.Name, "0"), a.In, a.Eps)
	if err != nil {
		return nil, err
	}
	conv, err := layers.NewConv2D(a.Backend, layers.Join(a.Name, "1"), a.In, a.Out, a.Stride, a.Stride, 0, true, a.Init)
	if err != nil {
		return nil, err
	}
	return layers.NewSequential(a.Name, norm, conv), nil
}

// convnextBlock reads a "convnext" block's keys: kernel (7), mlp_ratio (4),
// hidden (0: int(mlp_ratio·dim)), grn (true, V2) and layer_scale (0; V1
// uses 1e-6). It returns an error naming the field for a bad value, a
// stride other than 1 or a width change (the block is residual).
func convnextBlock(a BlockArgs) (layers.BlockConfig, error) {
	c := layers.BlockConfig{Dim: a.Out, DropPath: a.DropPath, Eps: a.Eps}
	var err error
	if c.Kernel, err = a.Params.Int("kernel", 7); err != nil {
		return c, err
	}
	if c.MLPRatio, err = a.Params.Float("mlp_ratio", 4); err != nil {
		return c, err
	}
	if c.HiddenDim, err = a.Params.Int("hidden", 0); err != nil {
		return c, err
	}
	if c.GRN, err = a.Params.Bool("grn", true); err != nil {
		return c, err
	}
	if c.LayerScale, err = a.Params.Float("layer_scale", 0); err != nil {
		return c, err
	}
	se, err := a.Params.Float("se", 0)
	if err != nil {
		return c, err
	}
	if c.ECA, err = a.Params.Bool("eca", false); err != nil {
		return c, err
	}
	if se > 0 {
		c.SE = max(1, int(math.RoundToEven(float64(a.Out)*se)))
	}
	switch {
	case a.Stride != 1:
		return c, fmt.Errorf("field stride: a convnext block cannot downsample (stride %d); the stage needs a downsample: %w", a.Stride, ErrSpec)
	case a.In != a.Out:
		return c, fmt.Errorf("field dim: a convnext block keeps its width (input %d, dim %d); the stage needs a downsample: %w", a.In, a.Out, ErrSpec)
	case c.Kernel <= 0 || c.Kernel%2 == 0 || c.Kernel > MaxKernel:
		return c, fmt.Errorf("field kernel: %d must be odd and in [1, %d]: %w", c.Kernel, MaxKernel, ErrSpec)
	case !(c.MLPRatio > 0 && c.MLPRatio <= MaxMLPRatio):
		return c, fmt.Errorf("field mlp_ratio: %v outside (0, %d]: %w", c.MLPRatio, MaxMLPRatio, ErrSpec)
	case c.HiddenDim < 0 || c.HiddenDim > MaxMLPRatio*MaxDim:
		return c, fmt.Errorf("field hidden: %d outside [1, %d]: %w", c.HiddenDim, MaxMLPRatio*MaxDim, ErrSpec)
	case c.Hidden() < 1:
		return c, fmt.Errorf("field mlp_ratio: %v leaves dim %d no hidden channel: %w", c.MLPRatio, a.Out, ErrSpec)
	case !(c.LayerScale >= 0):
		return c, fmt.Errorf("field layer_scale: %v must be >= 0: %w", c.LayerScale, ErrSpec)
	case !(se >= 0 && se <= 1):
		return c, fmt.Errorf("field se: %v outside [0, 1] (the SE width is round(dim·se)): %w", se, ErrSpec)
	case se > 0 && c.ECA:
		return c, fmt.Errorf("field eca: se and eca are alternatives; set one: %w", ErrSpec)
	}
	return c, nil
}

// convnextBlockCost counts the block as Describe lists it: depthwise conv
// output, LayerNorm output and statistics, fc1 output and GELU's, GRN's
// output and per-sample norms, fc2 output, layer scale, drop path (mask and
// output when its rate is positive) and the residual sum.
func convnextBlockCost(a BlockArgs, n, h, w int) Cost {
	c, _ := convnextBlock(a)
	N, p := float64(n), float64(n)*float64(h)*float64(w)
	d, e, K := float64(c.Dim), float64(c.Hidden()), float64(c.Kernel*c.Kernel)
	params := K*d + d + 2*d + d*e + e + e*d + d
	saved := p*d + p*d + 2*p + 2*p*e + p*d + p*d
	if c.GRN {
		params += 2 * e
		saved += p*e + N*e
	}
	if c.LayerScale > 0 {
		params += d
		saved += p * d
	}
	if c.DropPath > 0 {
		saved += p*d + N
	}
	switch {
	case c.SE > 0: // pool, reduce, ReLU, expand, gate
		r := float64(c.SE)
		params += 2*d*r + d + r
		saved += 2*N*d + 2*N*r + p*d
	case c.ECA: // pool, channel conv, gate
		params += float64(kernels.ECAKernelSize(c.Dim))
		saved += 2*N*d + p*d
	}
	return Cost{Params: params, Saved: saved, OutH: h, OutW: w}
}

func buildConvNeXtBlock(a BlockArgs) (layers.Layer, error) {
	c, err := convnextBlock(a)
	if err != nil {
		return nil, err
	}
	return layers.NewBlock(a.Backend, a.Name, c, a.Init, a.DropRNG)
}

// normLinearCost: global average pool, LayerNorm (output and statistics),
// Linear to the classes.
func normLinearCost(a BlockArgs, n, _, _ int) Cost {
	N, d, k := float64(n), float64(a.In), float64(a.Out)
	return Cost{Params: 2*d + d*k + k, Saved: N*d + N*d + 2*N + N*k, OutH: 1, OutW: 1}
}

func buildNormLinear(a BlockArgs) (layers.Layer, error) {
	pool := layers.NewGlobalAvgPool(a.Backend, layers.Join(a.Name, "global_pool"))
	norm, err := layers.NewLayerNorm(a.Backend, layers.Join(a.Name, "norm"), a.In, a.Eps)
	if err != nil {
		return nil, err
	}
	fc, err := layers.NewLinear(a.Backend, layers.Join(a.Name, "fc"), a.In, a.Out, true, a.Init)
	if err != nil {
		return nil, err
	}
	return layers.NewSequential("", pool, norm, fc), nil
}
