package kernels

import (
	"fmt"
	"math"
)

// AttentionOps are the channel attention ops of squeeze-and-excitation (Hu
// et al. 2018) and ECA (Wang et al. 2020): a per-sample, per-channel gate
// and ECA's 1-D convolution across channels.
type AttentionOps interface {
	// ChannelGate computes y[n,hw,c] = x[n,hw,c]·gate(g[n,c]) for
	// [GateShape] s, the last step of SE and ECA (timm's x * gate(x_se)).
	// y must not alias g.
	ChannelGate(y, x, g Tensor, s GateShape) error
	// ChannelGateBackward overwrites dx = dy·gate(g) (nil skips it) and dg
	// [N, C] = gate'(g[n,c])·Σ_hw dy[n,hw,c]·x[n,hw,c], the sum in float64.
	ChannelGateBackward(dx, dg, dy, x, g Tensor, s GateShape) error

	// ChannelConv computes ECA's 1-D convolution across channels for
	// [ChannelConvShape] s, y[n,c] = Σ_j w[j]·x[n, c+j−P] with zero padding
	// P = (K−1)/2 (PyTorch's nn.Conv1d(1, 1, K, padding=P, bias=False) on
	// the pooled [N, 1, C]). y must not alias x.
	ChannelConv(y, x, w Tensor, s ChannelConvShape) error
	// ChannelConvBackward overwrites dx[n,c] = Σ_j w[j]·dy[n, c−j+P] (nil
	// skips it) and accumulates dw[j] += Σ_{n,c} dy[n,c]·x[n, c+j−P], the
	// sum in float64.
	ChannelConvBackward(dx, dw, dy, x, w Tensor, s ChannelConvShape) error
}

// GateKind selects the gate function of a [GateShape].
type GateKind uint8

const (
	// GateSigmoid is 1/(1 + e^−g), timm's default gate (nn.Sigmoid).
	GateSigmoid GateKind = iota
	// GateHardSigmoid is relu6(g + 3)/6 with derivative 1/6 on −3 < g < 3
	// and 0 elsewhere (PyTorch's F.hardsigmoid; MobileNetV3's SE gate).
	GateHardSigmoid
)

// String returns "sigmoid" or "hard_sigmoid".
func (k GateKind) String() string {
	if k == GateHardSigmoid {
		return "hard_sigmoid"
	}
	return "sigmoid"
}

// Gate returns the gate function k at v and its derivative, in float64. A
// NaN v gives NaN for both.
func (k GateKind) Gate(v float64) (gate, deriv float64) {
	if k == GateHardSigmoid {
		t := v + 3
		switch {
		case t > 0 && t < 6:
			return t / 6, 1.0 / 6
		case t <= 0:
			return 0, 0
		case t >= 6:
			return 1, 0
		}
		return v, v // NaN
	}
	s := 1 / (1 + math.Exp(-v))
	return s, s * (1 - s)
}

// GateShape describes a channel gate over NHWC input with the spatial axes
// flattened:
//
//	x, y, dx, dy [N, HW, C]   g, dg [N, C]
//
// y[n,hw,c] = x[n,hw,c]·Gate(g[n,c]) with the gate function Gate.
type GateShape struct {
	N, HW, C int
	Gate     GateKind
}

// Validate returns an error wrapping [ErrShape] unless every size is
// positive and Gate is known.
func (s GateShape) Validate() error {
	if err := positive("channel gate", "N", s.N, "HW", s.HW, "C", s.C); err != nil {
		return err
	}
	if s.Gate > GateHardSigmoid {
		return fmt.Errorf("channel gate: unknown gate kind %d: %w", s.Gate, ErrShape)
	}
	return nil
}

// Args returns the arguments of ChannelGate (backward false: y, x, g) or
// ChannelGateBackward (dx optional, dg, dy, x, g) for [CheckArgs].
func (s GateShape) Args(y, x, g, dx, dg Tensor, backward bool) []Arg {
	xs, gs := Shape{s.N, s.HW, s.C}, Shape{s.N, s.C}
	if !backward {
		return []Arg{{Name: "y", T: y, Want: xs}, {Name: "x", T: x, Want: xs}, {Name: "g", T: g, Want: gs}}
	}
	return []Arg{{Name: "dx", T: dx, Want: xs, Optional: true}, {Name: "dg", T: dg, Want: gs},
		{Name: "dy", T: y, Want: xs}, {Name: "x", T: x, Want: xs}, {Name: "g", T: g, Want: gs}}
}

// ChannelConvShape describes ECA's 1-D convolution across the C channels of
// N pooled samples, PyTorch's nn.Conv1d(1, 1, K, padding=(K−1)/2,
// bias=False) on [N, 1, C]:
//
//	x, y, dx, dy [N, C]   w, dw [1, 1, K] (timm's conv.weight)
//
// K is odd, so the output has C channels.
type ChannelConvShape struct {
	N, C, K int
}

// Pad returns the zero padding on each side, (K−1)/2.
func (s ChannelConvShape) Pad() int { return (s.K - 1) / 2 }

// WShape returns [1, 1, K].
func (s ChannelConvShape) WShape() Shape { return Shape{1, 1, s.K} }

// MACs returns N·C·K, the multiply-accumulates of one forward pass.
func (s ChannelConvShape) MACs() int64 { return int64(s.N) * int64(s.C) * int64(s.K) }

// Validate returns an error wrapping [ErrShape] unless every size is
// positive and K is odd.
func (s ChannelConvShape) Validate() error {
	if err := positive("channel conv", "N", s.N, "C", s.C, "K", s.K); err != nil {
		return err
	}
	if s.K%2 == 0 {
		return fmt.Errorf("channel conv: kernel size %d must be odd: %w", s.K, ErrShape)
	}
	return nil
}

// Args returns the arguments of ChannelConv (backward false: y, x, w) or
// ChannelConvBackward (dx optional, dw, dy, x, w) for [CheckArgs].
func (s ChannelConvShape) Args(y, x, w, dx, dw Tensor, backward bool) []Arg {
	xs := Shape{s.N, s.C}
	if !backward {
		return []Arg{{Name: "y", T: y, Want: xs}, {Name: "x", T: x, Want: xs}, {Name: "w", T: w, Want: s.WShape()}}
	}
	return []Arg{{Name: "dx", T: dx, Want: xs, Optional: true}, {Name: "dw", T: dw, Want: s.WShape()},
		{Name: "dy", T: y, Want: xs}, {Name: "x", T: x, Want: xs}, {Name: "w", T: w, Want: s.WShape()}}
}

// ECAKernelSize returns the kernel size ECA-Net chooses for c channels
// (Wang et al. 2020, eq. 12 with γ = 2, b = 1, as timm's EcaModule computes
// it): t = ⌊|log2(c) + 1|/2⌋, made odd by adding 1 to an even t, and at
// least 3.
func ECAKernelSize(c int) int {
	t := int(math.Abs(math.Log2(float64(c))+1) / 2)
	if t%2 == 0 {
		t++
	}
	return max(t, 3)
}
