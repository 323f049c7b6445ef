package kernels

import "fmt"

// ConvShape describes a dense 2-D convolution over NHWC input with a square
// kernel, PyTorch's nn.Conv2d(CIn, COut, K, stride=Stride, padding=Pad):
//
//	x [N, H, W, CIn]   w [COut, CIn, K, K]   b [COut]   y [N, OH, OW, COut]
//
// with OH = (H + 2·Pad − K)/Stride + 1 (floor), likewise OW. Padding is zeros.
// The ConvNeXt stem is K = Stride = 4, Pad = 0; the downsampling layers
// K = Stride = 2, Pad = 0.
type ConvShape struct {
	N, H, W, CIn, COut, K, Stride, Pad int
}

// OutH returns the output height (H + 2·Pad − K)/Stride + 1.
func (s ConvShape) OutH() int { return (s.H+2*s.Pad-s.K)/s.Stride + 1 }

// OutW returns the output width (W + 2·Pad − K)/Stride + 1.
func (s ConvShape) OutW() int { return (s.W+2*s.Pad-s.K)/s.Stride + 1 }

// XShape returns [N, H, W, CIn].
func (s ConvShape) XShape() Shape { return Shape{s.N, s.H, s.W, s.CIn} }

// WShape returns [COut, CIn, K, K].
func (s ConvShape) WShape() Shape { return Shape{s.COut, s.CIn, s.K, s.K} }

// YShape returns [N, OH, OW, COut].
func (s ConvShape) YShape() Shape { return Shape{s.N, s.OutH(), s.OutW(), s.COut} }

// MACs returns the multiply-accumulates of one forward pass,
// N·OH·OW·COut·CIn·K² (the fvcore convention papers call FLOPs).
func (s ConvShape) MACs() int64 {
	return int64(s.N) * int64(s.OutH()) * int64(s.OutW()) * int64(s.COut) * int64(s.CIn) * int64(s.K*s.K)
}

// Validate returns an error wrapping [ErrShape] if a size is not positive,
// Pad is negative or the kernel does not fit the padded input.
func (s ConvShape) Validate() error {
	if err := positive("conv2d", "N", s.N, "H", s.H, "W", s.W, "CIn", s.CIn, "COut", s.COut, "K", s.K, "Stride", s.Stride); err != nil {
		return err
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
