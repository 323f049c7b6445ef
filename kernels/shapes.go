package kernels

import (
	"fmt"
	"math"
)

// ConvShape describes a 2-D convolution over NHWC input with a square
// kernel, dense or grouped, PyTorch's nn.Conv2d(CIn, COut, K, stride=Stride,
// padding=Pad, groups=Groups):
//
//	x [N, H, W, CIn]   w [COut, CIn/G, K, K]   b [COut]   y [N, OH, OW, COut]
//
// with OH = (H + 2·Pad − K)/Stride + 1 (floor), likewise OW. Padding is zeros,
// Pad on every side. Groups G (0 means 1, a dense convolution) splits the
// channels into G independent convolutions: output channel co of group
// g = co/(COut/G) reads only input channels g·CIn/G … (g+1)·CIn/G − 1, so
// both CIn and COut must be multiples of G. The ConvNeXt stem is K = Stride =
// 4, Pad = 0; the downsampling layers K = Stride = 2, Pad = 0; the ResNet stem
// K = 7, Stride = 2, Pad = 3; ResNeXt's 32×4d bottleneck K = 3, Groups = 32.
type ConvShape struct {
	N, H, W, CIn, COut, K, Stride, Pad int
	Groups                             int // 0 or 1: dense
}

// G returns the number of groups, Groups or 1 when Groups is 0.
func (s ConvShape) G() int { return max(1, s.Groups) }

// OutH returns the output height (H + 2·Pad − K)/Stride + 1.
func (s ConvShape) OutH() int { return (s.H+2*s.Pad-s.K)/s.Stride + 1 }

// OutW returns the output width (W + 2·Pad − K)/Stride + 1.
func (s ConvShape) OutW() int { return (s.W+2*s.Pad-s.K)/s.Stride + 1 }

// XShape returns [N, H, W, CIn].
func (s ConvShape) XShape() Shape { return Shape{s.N, s.H, s.W, s.CIn} }

// WShape returns [COut, CIn/G, K, K].
func (s ConvShape) WShape() Shape { return Shape{s.COut, s.CIn / s.G(), s.K, s.K} }

// YShape returns [N, OH, OW, COut].
func (s ConvShape) YShape() Shape { return Shape{s.N, s.OutH(), s.OutW(), s.COut} }

// MACs returns the multiply-accumulates of one forward pass,
// N·OH·OW·COut·(CIn/G)·K² (the fvcore convention papers call FLOPs, which
// counts a grouped convolution per group).
func (s ConvShape) MACs() int64 {
	return int64(s.N) * int64(s.OutH()) * int64(s.OutW()) * int64(s.COut) * int64(s.CIn/s.G()) * int64(s.K*s.K)
}

// Validate returns an error wrapping [ErrShape] if a size is not positive,
// Pad or Groups is negative, CIn or COut is not a multiple of the groups, or
// the kernel does not fit the padded input.
func (s ConvShape) Validate() error {
	if err := positive("conv2d", "N", s.N, "H", s.H, "W", s.W, "CIn", s.CIn, "COut", s.COut, "K", s.K, "Stride", s.Stride); err != nil {
		return err
	}
	if s.Groups < 0 || s.CIn%s.G() != 0 || s.COut%s.G() != 0 {
		return fmt.Errorf("conv2d: groups %d must be >= 0 and divide CIn %d and COut %d: %w", s.Groups, s.CIn, s.COut, ErrShape)
	}
	if s.Pad < 0 || s.H+2*s.Pad < s.K || s.W+2*s.Pad < s.K {
		return fmt.Errorf("conv2d: kernel %d with padding %d does not fit %dx%d input: %w", s.K, s.Pad, s.H, s.W, ErrShape)
	}
	return nil
}

// DWConvShape describes a depthwise 2-D convolution over NHWC input,
// PyTorch's nn.Conv2d(C, C, K, stride=Stride, padding=K/2, groups=C):
//
//	x [N, H, W, C]   w [C, 1, K, K]   b [C]   y [N, OH, OW, C]
//
// K is odd and the padding is K/2 on every side ("same" for stride 1), so
// OH = (H − 1)/Stride + 1 (floor), likewise OW.
type DWConvShape struct {
	N, H, W, C, K, Stride int
}

// Pad returns the zero padding on each side, K/2.
func (s DWConvShape) Pad() int { return s.K / 2 }

// OutH returns (H + 2·Pad − K)/Stride + 1.
func (s DWConvShape) OutH() int { return (s.H+2*s.Pad()-s.K)/s.Stride + 1 }

// OutW returns (W + 2·Pad − K)/Stride + 1.
func (s DWConvShape) OutW() int { return (s.W+2*s.Pad()-s.K)/s.Stride + 1 }

// XShape returns [N, H, W, C].
func (s DWConvShape) XShape() Shape { return Shape{s.N, s.H, s.W, s.C} }

// WShape returns [C, 1, K, K].
func (s DWConvShape) WShape() Shape { return Shape{s.C, 1, s.K, s.K} }

// YShape returns [N, OH, OW, C].
func (s DWConvShape) YShape() Shape { return Shape{s.N, s.OutH(), s.OutW(), s.C} }

// MACs returns N·OH·OW·C·K², the multiply-accumulates of one forward pass.
func (s DWConvShape) MACs() int64 {
	return int64(s.N) * int64(s.OutH()) * int64(s.OutW()) * int64(s.C) * int64(s.K*s.K)
}

// Validate returns an error wrapping [ErrShape] unless every size is positive
// and K is odd.
func (s DWConvShape) Validate() error {
	if err := positive("dwconv", "N", s.N, "H", s.H, "W", s.W, "C", s.C, "K", s.K, "Stride", s.Stride); err != nil {
		return err
	}
	if s.K%2 == 0 {
		return fmt.Errorf("dwconv: kernel size %d must be odd: %w", s.K, ErrShape)
	}
	return nil
}

// LinearShape describes y = x·wᵀ + b over rows, PyTorch's nn.Linear(In, Out)
// applied to the last axis:
//
//	x [Rows, In]   w [Out, In]   b [Out]   y [Rows, Out]
//
// On NHWC activations Rows = N·H·W; this is also the 1×1 convolution.
type LinearShape struct {
	Rows, In, Out int
}

// MACs returns Rows·In·Out.
func (s LinearShape) MACs() int64 { return int64(s.Rows) * int64(s.In) * int64(s.Out) }

// Validate returns an error wrapping [ErrShape] unless every size is positive.
func (s LinearShape) Validate() error {
	return positive("linear", "Rows", s.Rows, "In", s.In, "Out", s.Out)
}

// NormShape describes a LayerNorm over the last axis of Rows rows of C
// values, PyTorch's F.layer_norm(x, (C,), w, b, Eps) with biased variance:
//
//	x, y [Rows, C]   w, b [C]   mean, rstd [Rows]
//
// ConvNeXt uses Eps = 1e-6 everywhere.
type NormShape struct {
	Rows, C int
	Eps     float64
}

// Validate returns an error wrapping [ErrShape] unless Rows and C are
// positive and Eps is not negative.
func (s NormShape) Validate() error {
	if err := positive("layernorm", "Rows", s.Rows, "C", s.C); err != nil {
		return err
	}
	if !(s.Eps >= 0) {
		return fmt.Errorf("layernorm: eps %v must be >= 0: %w", s.Eps, ErrShape)
	}
	return nil
}

// GRNShape describes Global Response Normalization (ConvNeXt V2, Woo et al.
// 2023, eq. 1–3 with the official code's channel mean) over NHWC input with
// the spatial axes flattened:
//
//	x, y [N, HW, C]   gamma, beta [C]   gnorm [N, C]
//
// g[n,c] = sqrt(Σ_hw x²), Nx = g / (mean_c g + Eps), y = gamma·(x·Nx) + beta + x.
type GRNShape struct {
	N, HW, C int
	Eps      float64
}

// Validate returns an error wrapping [ErrShape] unless N, HW and C are
// positive and Eps is not negative.
func (s GRNShape) Validate() error {
	if err := positive("grn", "N", s.N, "HW", s.HW, "C", s.C); err != nil {
		return err
	}
	if !(s.Eps >= 0) {
		return fmt.Errorf("grn: eps %v must be >= 0: %w", s.Eps, ErrShape)
	}
	return nil
}

// PoolShape describes global average pooling of NHWC input over its spatial
// axes: x [N, HW, C] → y [N, C].
type PoolShape struct {
	N, HW, C int
}

// Validate returns an error wrapping [ErrShape] unless every size is positive.
func (s PoolShape) Validate() error { return positive("avgpool", "N", s.N, "HW", s.HW, "C", s.C) }

// LossShape describes softmax cross-entropy over N samples of K classes:
// logits, prob, target [N, K]; loss [N].
type LossShape struct {
	N, K int
}

// Validate returns an error wrapping [ErrShape] unless N and K are positive.
func (s LossShape) Validate() error { return positive("cross-entropy", "N", s.N, "K", s.K) }

// GELUApprox selects the GELU formula (Hendrycks & Gimpel 2016).
type GELUApprox uint8

const (
	// GELUErf is the exact form x·Φ(x) = 0.5·x·(1 + erf(x/√2)), PyTorch's
	// nn.GELU() default and what ConvNeXt uses.
	GELUErf GELUApprox = iota
	// GELUTanh is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), PyTorch's
	// nn.GELU(approximate="tanh").
	GELUTanh
)

// String returns "erf" or "tanh".
func (a GELUApprox) String() string {
	if a == GELUTanh {
		return "tanh"
	}
	return "erf"
}

// MaxQuantLevel bounds |QMin| and |QMax| of a [QuantShape]: every integer of
// the grid, and the sum of a rounded value and a zero point, is then exact
// in float32, so the kernels can do PyTorch's int64 arithmetic in float.
// 16-bit grids (−32768..32767, 0..65535) fit.
const MaxQuantLevel = 1 << 16

// QuantShape describes affine fake quantization with one scale and zero
// point per channel (PyTorch's fake_quantize_per_channel_affine; per tensor
// when Channels = 1) of a tensor seen as [Outer, Channels, Inner]:
//
//	x, y, dy, dx [Outer, Channels, Inner]   scale, zeroPoint, dscale, dzeroPoint, min, max [Channels]
//
// Element (o, c, i) is at (o·Channels + c)·Inner + i. A whole tensor per
// tensor is {1, 1, Len}; weights per output channel (axis 0 of Linear's
// [Out, In], Conv2D's [COut, CIn, K, K], DWConv's [C, 1, K, K]) are
// {1, COut, rest}; NHWC activations per channel are {N·H·W, C, 1}.
// [QuantAxis] builds the view for any axis.
//
// QMin..QMax is the integer grid: −128..127 (int8), −127..127 (int8 narrow
// range, TensorRT's weights), 0..255 (uint8). MinScale, when positive, is a
// floor applied to every scale before use, as PyTorch's
// _LearnableFakeQuantize clamps its learned scale to eps; 0 uses the scales
// as given.
type QuantShape struct {
	Outer, Channels, Inner int
	QMin, QMax             int
	MinScale               float64
}

// QuantAxis returns the [QuantShape] that quantizes a tensor of shape s per
// channel along axis (0 ≤ axis < len(s)), or per tensor for axis < 0, on the
// grid qmin..qmax. It returns an error wrapping [ErrShape] for an axis
// outside s or a shape with a non-positive dimension.
func QuantAxis(s Shape, axis, qmin, qmax int) (QuantShape, error) {
	if len(s) == 0 || !s.Valid() {
		return QuantShape{}, fmt.Errorf("fakequant: tensor shape %v is empty or has a non-positive dimension: %w", s, ErrShape)
	}
	if axis >= len(s) {
		return QuantShape{}, fmt.Errorf("fakequant: channel axis %d of a rank-%d tensor %v: %w", axis, len(s), s, ErrShape)
	}
	if axis < 0 {
		return QuantShape{Outer: 1, Channels: 1, Inner: s.Len(), QMin: qmin, QMax: qmax}, nil
	}
	return QuantShape{Outer: s[:axis].Len(), Channels: s[axis], Inner: s[axis+1:].Len(), QMin: qmin, QMax: qmax}, nil
}

// Len returns Outer·Channels·Inner, the number of elements of x.
func (s QuantShape) Len() int { return s.Outer * s.Channels * s.Inner }

// XShape returns [Outer, Channels, Inner].
func (s QuantShape) XShape() Shape { return Shape{s.Outer, s.Channels, s.Inner} }

// CShape returns [Channels], the shape of scale, zero point and their
// gradients.
func (s QuantShape) CShape() Shape { return Shape{s.Channels} }

// Validate returns an error wrapping [ErrShape] unless the sizes are
// positive, QMin ≤ QMax, both within ±[MaxQuantLevel], and MinScale is
// finite and not negative.
func (s QuantShape) Validate() error {
	if err := positive("fakequant", "Outer", s.Outer, "Channels", s.Channels, "Inner", s.Inner); err != nil {
		return err
	}
	if s.QMin > s.QMax || s.QMin < -MaxQuantLevel || s.QMax > MaxQuantLevel {
		return fmt.Errorf("fakequant: integer range %d..%d must have QMin <= QMax within ±%d: %w", s.QMin, s.QMax, MaxQuantLevel, ErrShape)
	}
	if !(s.MinScale >= 0) || math.IsInf(s.MinScale, 0) {
		return fmt.Errorf("fakequant: minimum scale %v must be finite and >= 0: %w", s.MinScale, ErrShape)
	}
	return nil
}

// MaxPoolShape describes a K×K max pool with stride Stride and zero-count
// padding Pad (padded positions never win, PyTorch's nn.MaxPool2d): x [N,
// H, W, C] → y [N, OH, OW, C] with OH = (H + 2·Pad − K)/Stride + 1 (floor),
// NHWC. ResNet's stem uses K 3, Stride 2, Pad 1.
type MaxPoolShape struct {
	N, H, W, C, K, Stride, Pad int
}

// Out returns the output height and width.
func (s MaxPoolShape) Out() (int, int) {
	return (s.H+2*s.Pad-s.K)/s.Stride + 1, (s.W+2*s.Pad-s.K)/s.Stride + 1
}

// Validate returns an error wrapping [ErrShape] unless every size is
// positive, Pad is at most K/2 (PyTorch's rule, so that every window holds
// an input pixel) and the output is at least 1×1.
func (s MaxPoolShape) Validate() error {
	if err := positive("maxpool", "N", s.N, "H", s.H, "W", s.W, "C", s.C, "K", s.K, "Stride", s.Stride); err != nil {
		return err
	}
	if s.Pad < 0 || 2*s.Pad > s.K || s.H+2*s.Pad < s.K || s.W+2*s.Pad < s.K {
		return fmt.Errorf("maxpool: pad %d with kernel %d on %d×%d: %w", s.Pad, s.K, s.H, s.W, ErrShape)
	}
	return nil
}
