package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
)

// Kinds of MobileNet/EfficientNet blocks an [EfficientConfig] describes, as
// timm names them in its architecture strings (docs/EFFICIENT.md §2).
const (
	KindDS   = "ds"  // depthwise-separable (timm DepthwiseSeparableConv)
	KindIR   = "ir"  // MBConv, inverted residual (timm InvertedResidual)
	KindER   = "er"  // Fused-MBConv (timm EdgeResidual)
	KindCN   = "cn"  // convolution + BN + activation (timm ConvBnAct)
	KindUIB  = "uir" // MobileNetV4 universal inverted bottleneck (timm UniversalInvertedResidual)
	kindsAll = "ds, ir, er, cn, uir"
)

// EfficientConfig describes one MobileNet/EfficientNet block over NHWC input
// [N, H, W, In] → [N, OH, OW, Out], OH = ceil(H/Stride). Every convolution
// has "same" padding Kernel/2, no bias, and is followed by BatchNorm2d
// (eps BNEps, momentum BNMomentum); Act follows every BatchNorm except the
// last of the block (and UIB's start depthwise). Which fields apply depends
// on Kind (docs/EFFICIENT.md §2):
//
//   - ds:  Kernel×Kernel depthwise → SE → 1×1 to Out.
//   - ir:  1×1 to Mid → Kernel×Kernel depthwise → SE → 1×1 to Out.
//   - er:  Kernel×Kernel dense to Mid → SE → 1×1 to Out.
//   - cn:  Kernel×Kernel dense to Out; residual only with Skip.
//   - uir: [StartKernel depthwise] → 1×1 to Mid → [Kernel depthwise] → SE →
//     1×1 to Out → [layer scale]; a zero kernel leaves its convolution out,
//     and the stride goes to the middle depthwise if present, else to the
//     start one.
//
// The residual x + DropPath(body(x)) exists when Stride is 1, In == Out
// and (for cn) Skip is set.
type EfficientConfig struct {
	Kind        string
	In, Out     int     // input and output channels
	Mid         int     // expanded width (ir, er, uir)
	Kernel      int     // main kernel size: the depthwise of ds/ir, the dense conv of er/cn, UIB's middle depthwise (0: none)
	StartKernel int     // UIB's depthwise before the expansion (0: none)
	Stride      int     // 1 or 2
	SE          int     // squeeze-and-excitation reduced width; 0: no SE
	Skip        bool    // cn only: residual when the shapes allow
	Act         string  // activation after BatchNorm: "relu", "silu", ... (kernels.ActivationKind names)
	LayerScale  float64 // UIB layer-scale init; 0: none
	DropPath    float64 // stochastic depth rate of the residual branch
	BNEps       float64 // BatchNorm eps (PyTorch's 1e-5)
	BNMomentum  float64 // BatchNorm momentum (PyTorch's 0.1)
}

// HasResidual reports whether the block adds its input to its output: stride
// 1, In == Out, and for cn the Skip option (timm's has_skip).
func (c EfficientConfig) HasResidual() bool {
	return c.Stride == 1 && c.In == c.Out && (c.Kind != KindCN || c.Skip)
}

// Validate returns an error naming the first invalid field.
func (c EfficientConfig) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%s block: %s %v %s", c.Kind, field, v, why)
	}
	switch c.Kind {
	case KindDS, KindIR, KindER, KindCN, KindUIB:
	default:
		return fmt.Errorf("block kind %q unknown (want one of %s)", c.Kind, kindsAll)
	}
	switch {
	case c.In <= 0:
		return bad("in", c.In, "must be positive")
	case c.Out <= 0:
		return bad("out", c.Out, "must be positive")
	case c.Stride != 1 && c.Stride != 2:
		return bad("stride", c.Stride, "must be 1 or 2")
	case c.SE < 0:
		return bad("se", c.SE, "must be >= 0")
	case !(c.DropPath >= 0 && c.DropPath < 1):
		return bad("drop_path", c.DropPath, "outside [0, 1)")
	case !(c.BNEps > 0) || math.IsInf(c.BNEps, 0):
		return bad("bn_eps", c.BNEps, "must be positive and finite")
	case !(c.BNMomentum >= 0 && c.BNMomentum <= 1):
		return bad("bn_momentum", c.BNMomentum, "outside [0, 1]")
	case !(c.LayerScale >= 0):
		return bad("layer_scale", c.LayerScale, "must be >= 0")
	}
	odd := func(field string, k int, optional bool) error {
		if (optional && k == 0) || (k > 0 && k%2 == 1) {
			return nil
		}
		return bad(field, k, "must be odd and positive")
	}
	switch c.Kind {
	case KindDS, KindCN:
		return odd("kernel", c.Kernel, false)
	case KindIR, KindER:
		if c.Mid <= 0 {
			return bad("mid", c.Mid, "must be positive")
		}
		return odd("kernel", c.Kernel, false)
	}
	// UIB
	if c.Mid <= 0 {
		return bad("mid", c.Mid, "must be positive")
	}
	if err := odd("kernel", c.Kernel, true); err != nil {
		return err
	}
	if err := odd("start_kernel", c.StartKernel, true); err != nil {
		return err
	}
	if c.Stride > 1 && c.Kernel == 0 && c.StartKernel == 0 {
		return bad("stride", c.Stride, "needs a depthwise convolution (kernel or start_kernel)")
	}
	return nil
}

// NumParams returns the block's number of parameter elements (BatchNorm's
// weight and bias count, its running statistics do not), the formula timm's
// modules give: a k×k convolution from a to b channels has b·a·k² weights,
// a depthwise one c·k², SE on c channels with r reduced 2·c·r + c + r.
func (c EfficientConfig) NumParams() int {
	se := 0
	if c.SE > 0 {
		w := c.Mid
		if c.Kind == KindDS {
			w = c.In
		}
		se = 2*w*c.SE + w + c.SE
	}
	k2 := c.Kernel * c.Kernel
	switch c.Kind {
	case KindDS:
		return c.In*k2 + 2*c.In + se + c.Out*c.In + 2*c.Out
	case KindIR:
		return c.Mid*c.In + 2*c.Mid + c.Mid*k2 + 2*c.Mid + se + c.Out*c.Mid + 2*c.Out
	case KindER:
		return c.Mid*c.In*k2 + 2*c.Mid + se + c.Out*c.Mid + 2*c.Out
	case KindCN:
		return c.Out*c.In*k2 + 2*c.Out
	}
	n := c.Mid*c.In + 2*c.Mid + se + c.Out*c.Mid + 2*c.Out
	if c.StartKernel > 0 {
		n += c.In*c.StartKernel*c.StartKernel + 2*c.In
	}
	if c.Kernel > 0 {
		n += c.Mid*k2 + 2*c.Mid
	}
	if c.LayerScale > 0 {
		n += c.Out
	}
	return n
}

// EfficientBlock is one MobileNet/EfficientNet block built from an
// [EfficientConfig]: the body in timm's order, wrapped as x + DropPath(body(x))
// when [EfficientConfig.HasResidual], else the body alone. Parameter and
// buffer names are timm's state-dict names (docs/EFFICIENT.md §2).
type EfficientBlock struct {
	Container // *Residual or *Sequential
	Config    EfficientConfig
}

// Children returns the block's one child, its residual (or plain body), so
// that a walk sees the residual sum.
func (b *EfficientBlock) Children() []Layer { return []Layer{b.Container} }

// NewEfficientBlock builds the block named name (e.g. "blocks.1.0") on be.
// Convolution weights are drawn by init (zero when nil) as [NewConv2D]
// draws them, BatchNorm starts at weight 1, bias 0 and running statistics
// 0/1, drop path masks come from dropRNG. It returns an error naming the
// block and field if cfg is invalid.
func NewEfficientBlock(be kernels.Backend, name string, cfg EfficientConfig, init *rand.Rand, dropRNG *philox.Generator) (*EfficientBlock, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s: %w", name, err)
	}
	act, err := kernels.ParseActivation(cfg.Act)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %s block: act: %w", name, cfg.Kind, err)
	}
	b := &blockBuilder{be: be, name: name, cfg: cfg, act: act, init: init}
	switch cfg.Kind {
	case KindDS:
		b.depthwiseSeparable()
	case KindIR:
		b.mbconv()
	case KindER:
		b.fusedMBConv()
	case KindCN:
		b.convBNAct()
	case KindUIB:
		b.uib()
	}
	if b.err != nil {
		return nil, b.err
	}
	blk := &EfficientBlock{Config: cfg}
	if !cfg.HasResidual() {
		blk.Container = NewSequential(name, b.body...)
		return blk, nil
	}
	dp, err := NewDropPath(be, Join(name, "drop_path"), cfg.DropPath, dropRNG)
	if err != nil {
		return nil, err
	}
	blk.Container = NewResidual(be, name, NewSequential(Join(name, "body"), append(b.body, dp)...))
	return blk, nil
}

// blockBuilder appends an efficient block's layers to body, keeping the
// first error.
type blockBuilder struct {
	be   kernels.Backend
	name string
	cfg  EfficientConfig
	act  kernels.ActivationKind
	init *rand.Rand
	body []Layer
	err  error
}

// add appends l unless an earlier step failed or err is set.
func (b *blockBuilder) add(l Layer, err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
	if b.err == nil {
		b.body = append(b.body, l)
	}
}

// conv appends a k×k convolution (depthwise when dw, with cin == cout) named
// conv without bias and "same" padding k/2, then BatchNorm named bn, then the
// activation (named bn.act, as in timm's BatchNormAct2d) when act is set.
func (b *blockBuilder) conv(conv, bn string, cin, cout, k, stride int, dw, act bool) {
	if b.err != nil {
		return
	}
	if dw {
		b.add(NewDWConv(b.be, Join(b.name, conv), cin, k, stride, false, b.init))
	} else {
		b.add(NewConv2D(b.be, Join(b.name, conv), cin, cout, k, stride, k/2, false, b.init))
	}
	b.add(NewBatchNorm2d(b.be, Join(b.name, bn), cout, b.cfg.BNEps, b.cfg.BNMomentum))
	if act {
		b.add(NewActivation(b.be, Join(b.name, bn+".act"), b.act))
	}
}

// se appends squeeze-and-excitation over c channels (named se, timm's
// SqueezeExcite: the block's activation, sigmoid gate) when the block has one.
func (b *blockBuilder) se(c int) {
	if b.err != nil || b.cfg.SE == 0 {
		return
	}
	act, err := NewActivation(b.be, Join(b.name, "se.act1"), b.act)
	if err != nil {
		b.err = err
		return
	}
	b.add(NewSqueezeExcite(b.be, Join(b.name, "se"), c, b.cfg.SE, act, kernels.GateSigmoid, b.init))
}
