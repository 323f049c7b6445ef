package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
)

// BlockConfig describes one ConvNeXt block. [V2Block] and [V1Block] return
// the published settings; the efficient variants change Kernel, MLPRatio and
// GRN.
type BlockConfig struct {
	Dim        int                // channels C of the block's input and output
	Kernel     int                // depthwise kernel size, odd (7 in ConvNeXt)
	MLPRatio   float64            // hidden width = int(MLPRatio·Dim) (4 in ConvNeXt)
	HiddenDim  int                // explicit hidden width (a pruned block's); 0 uses MLPRatio
	SE         int                // squeeze-and-excitation reduced width on the residual branch (0: none)
	ECA        bool               // ECA (adaptive kernel) on the residual branch
	GRN        bool               // GRN after GELU (ConvNeXt V2)
	LayerScale float64            // initial layer-scale gamma; 0 disables it (V2). V1 uses 1e-6.
	DropPath   float64            // stochastic depth rate of this block
	Eps        float64            // LayerNorm and GRN epsilon (1e-6)
	GELU       kernels.GELUApprox // GELU form (erf in ConvNeXt)
}

// V2Block returns the ConvNeXt V2 block of width dim: 7×7 depthwise conv,
// LayerNorm, Linear to 4·dim, GELU, GRN, Linear back to dim, drop path,
// residual (official models/convnextv2.py Block).
func V2Block(dim int, dropPath float64) BlockConfig {
	return BlockConfig{Dim: dim, Kernel: 7, MLPRatio: 4, GRN: true, DropPath: dropPath, Eps: DefaultEps}
}

// V1Block returns the ConvNeXt V1 block of width dim: as V2 without GRN and
// with a layer scale initialised to 1e-6 after the second Linear (official
// ConvNeXt models/convnext.py Block).
func V1Block(dim int, dropPath float64) BlockConfig {
	return BlockConfig{Dim: dim, Kernel: 7, MLPRatio: 4, LayerScale: 1e-6, DropPath: dropPath, Eps: DefaultEps}
}

// Hidden returns the MLP's hidden width: HiddenDim if set, else
// int(MLPRatio·Dim), timm's rule.
func (c BlockConfig) Hidden() int {
	if c.HiddenDim > 0 {
		return c.HiddenDim
	}
	return int(math.Floor(c.MLPRatio*float64(c.Dim) + 1e-9))
}

// Validate returns an error describing the first invalid field.
func (c BlockConfig) Validate() error {
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("block: dim %d must be positive", c.Dim)
	case c.Kernel <= 0 || c.Kernel%2 == 0:
		return fmt.Errorf("block: kernel %d must be odd and positive", c.Kernel)
	case c.HiddenDim < 0:
		return fmt.Errorf("block: hidden width %d must be positive", c.HiddenDim)
	case c.Hidden() <= 0:
		return fmt.Errorf("block: MLP ratio %v gives no hidden units for dim %d", c.MLPRatio, c.Dim)
	case !(c.LayerScale >= 0):
		return fmt.Errorf("block: layer scale %v must be >= 0", c.LayerScale)
	case !(c.DropPath >= 0 && c.DropPath < 1):
		return fmt.Errorf("block: drop path %v outside [0, 1)", c.DropPath)
	case !(c.Eps >= 0):
		return fmt.Errorf("block: eps %v must be >= 0", c.Eps)
	case c.SE < 0:
		return fmt.Errorf("block: se %d must be >= 0", c.SE)
	case c.SE > 0 && c.ECA:
		return fmt.Errorf("block: se and eca are alternatives; choose one")
	}
	return nil
}

// Block is one ConvNeXt block over NHWC input x [N, H, W, Dim]:
//
//	y = x + DropPath(Attn(LayerScale(FC2(GRN(GELU(FC1(Norm(DWConv(x)))))))))
//
// with GRN (V2), LayerScale (V1) and Attn (SE or ECA, the efficient study's
// option) present as configured. Parameter names
// follow timm: conv_dw, norm, mlp.fc1, mlp.grn, mlp.fc2, gamma.
type Block struct {
	*Residual
	Config   BlockConfig
	DWConv   *DWConv
	Norm     *LayerNorm
	FC1      *Linear
	Act      *GELU
	GRN      *GRN // nil unless Config.GRN
	FC2      *Linear
	Scale    *LayerScale       // nil unless Config.LayerScale > 0
	Attn     *ChannelAttention // SE or ECA; nil unless Config.SE > 0 or Config.ECA
	DropPath *DropPath
	// Fused is the MLP's first half through the backend's fused passes
	// (FC1, GELU and GRN as one [FusedMLP]); nil unless the block is the
	// plain V2 case: a backend with kernels.MLPOps, GRN, erf GELU, no SE
	// or ECA.
	Fused *FusedMLP
	fused *Residual // the body with Fused in place of FC1, Act and GRN
	plain []Layer   // the body's layers as built, to notice a rewritten body
	last  *Residual // the path the last Forward took
}

// NewBlock builds a block named name (e.g. "stages.1.blocks.0") on be.
// Weights are drawn by init (zero when nil); drop path masks by dropRNG.
// It returns an error if cfg is invalid.
func NewBlock(be kernels.Backend, name string, cfg BlockConfig, init *rand.Rand, dropRNG *philox.Generator) (*Block, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s: %w", name, err)
	}
	b := &Block{Config: cfg}
	var err error
	if b.DWConv, err = NewDWConv(be, Join(name, "conv_dw"), cfg.Dim, cfg.Kernel, 1, true, init); err != nil {
		return nil, err
	}
	if b.Norm, err = NewLayerNorm(be, Join(name, "norm"), cfg.Dim, cfg.Eps); err != nil {
		return nil, err
	}
	h := cfg.Hidden()
	if b.FC1, err = NewLinear(be, Join(name, "mlp.fc1"), cfg.Dim, h, true, init); err != nil {
		return nil, err
	}
	b.Act = NewGELU(be, Join(name, "mlp.act"), cfg.GELU)
	body := []Layer{b.DWConv, b.Norm, b.FC1, b.Act}
	if cfg.GRN {
		if b.GRN, err = NewGRN(be, Join(name, "mlp.grn"), h, cfg.Eps); err != nil {
			return nil, err
		}
		body = append(body, b.GRN)
	}
	if b.FC2, err = NewLinear(be, Join(name, "mlp.fc2"), h, cfg.Dim, true, init); err != nil {
		return nil, err
	}
	body = append(body, b.FC2)
	if cfg.LayerScale > 0 {
		if b.Scale, err = NewLayerScale(be, Join(name, "ls"), Join(name, "gamma"), cfg.Dim, float32(cfg.LayerScale)); err != nil {
			return nil, err
		}
		body = append(body, b.Scale)
	}
	if cfg.SE > 0 || cfg.ECA {
		if b.Attn, err = newBlockAttention(be, name, cfg, init); err != nil {
			return nil, err
		}
		body = append(body, b.Attn)
	}
	if b.DropPath, err = NewDropPath(be, Join(name, "drop_path"), cfg.DropPath, dropRNG); err != nil {
		return nil, err
	}
	body = append(body, b.DropPath)
	b.Residual = NewResidual(be, name, NewSequential(Join(name, "body"), body...))
	if _, ok := be.(kernels.MLPOps); ok && cfg.GRN && cfg.GELU == kernels.GELUErf && b.Attn == nil { // SE and ECA take the separate ops
		if b.Fused, err = NewFusedMLP(be, Join(name, "mlp"), b.FC1, b.Act, b.GRN); err != nil {
			return nil, err
		}
		// The Sequential holds body itself, which a rewrite changes in place.
		b.plain = slices.Clone(body)
		fused := append([]Layer{b.DWConv, b.Norm, b.Fused}, body[5:]...) // FC2 onwards
		b.fused = NewResidual(be, name, NewSequential(Join(name, "body"), fused...))
	}
	return b, nil
}

// Forward computes x + DropPath(...(x)). It runs the fused MLP when the
// block has one ([Block.Fused]) and its Body is still the Sequential of its
// own layers that NewBlock built; a body that something rewrote (fake
// quantization wrapped around the Linears, a pruning tap after the GELU)
// runs as it stands, through the separate ops.
func (b *Block) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	b.last = b.Residual
	if body, ok := b.Body.(*Sequential); ok && b.fused != nil && slices.Equal(body.Layers, b.plain) {
		b.last = b.fused
	}
	return b.last.Forward(x)
}

// Backward returns dL/dx through the path the last Forward took.
func (b *Block) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	if b.last == nil {
		return b.Residual.Backward(dy)
	}
	return b.last.Backward(dy)
}

// newBlockAttention returns the channel attention of a ConvNeXt block with
// SE or ECA: squeeze-and-excitation (name.se: conv_reduce, ReLU, conv_expand,
// sigmoid, timm's SEModule defaults) or ECA (name.eca, kernel
// kernels.ECAKernelSize(Dim)) over Dim channels, applied to the residual
// branch after the MLP (and layer scale), as SE-ResNet places it (Hu et al.
// 2018, Fig. 3), so the block computes x + DropPath(Attn(MLP(...))).
func newBlockAttention(be kernels.Backend, name string, cfg BlockConfig, init *rand.Rand) (*ChannelAttention, error) {
	if cfg.ECA {
		return NewECA(be, Join(name, "eca"), cfg.Dim, 0, init)
	}
	act, err := NewActivation(be, Join(name, "se.act1"), kernels.ReLU)
	if err != nil {
		return nil, err
	}
	return NewSqueezeExcite(be, Join(name, "se"), cfg.Dim, cfg.SE, act, kernels.GateSigmoid, init)
}
