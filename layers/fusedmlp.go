package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// FusedMLP is the first half of the ConvNeXt V2 block's MLP, GRN(GELU_erf(
// FC1(x))), for x [N, H, W, FC1.In] and a result [N, H, W, FC1.Out], run
// through the backend's fused passes ([kernels.MLPOps], docs/BF16.md):
//
//	a = x·W1ᵀ (+ b1 in bf16)
//	h, Σ_hw h² = BiasGELUSumSq(a, b1 in fp32/tf32)    y = GRNApply(h, Σ_hw h²)
//
// and backward GRNGELUBackward (GRN's backward, GELU's backward and the fc1
// bias gradient in one pass over the hidden tensor) before FC1's product
// backward. It owns no parameters: it reads and accumulates those of FC1
// and GRN, the block's own layers, so checkpoints and parameter counts are
// the unfused block's. In float32 activations the bias is added by the
// fused pass (one bias-add pass saved); in bf16 precision FC1's product adds
// the bf16 bias before its one rounding to bf16, as
// torch.autocast(bfloat16) does (cuBLASLt's BIAS epilogue on the GPU), so
// the results equal FC1, GELU and GRN run one after another.
type FusedMLP struct {
	name  string
	be    kernels.Backend
	ops   kernels.MLPOps
	FC1   *Linear
	Act   *GELU
	GRN   *GRN
	a     kernels.Tensor // FC1's output
	bias  kernels.Tensor // the bias the fused passes add: FC1's, or none in bf16
	s     kernels.GRNShape
	sumSq Buffer
}

// NewFusedMLP returns the fused layer over fc1, act and grn (grn.C =
// fc1.Out), named name. It returns an error wrapping kernels.ErrShape if be
// does not implement kernels.MLPOps, act is not the erf GELU, fc1 has no
// bias or the widths differ.
func NewFusedMLP(be kernels.Backend, name string, fc1 *Linear, act *GELU, grn *GRN) (*FusedMLP, error) {
	ops, ok := be.(kernels.MLPOps)
	switch {
	case !ok:
		return nil, fmt.Errorf("layer %s (FusedMLP): backend %T has no fused MLP ops: %w", name, be, kernels.ErrShape)
	case act.Approx != kernels.GELUErf:
		return nil, fmt.Errorf("layer %s (FusedMLP): the fused ops compute the erf GELU, not %v: %w", name, act.Approx, kernels.ErrShape)
	case fc1.Bias == nil || fc1.Out != grn.C:
		return nil, fmt.Errorf("layer %s (FusedMLP): fc1 [%d→%d] with bias %t does not feed GRN over %d channels: %w",
			name, fc1.In, fc1.Out, fc1.Bias != nil, grn.C, kernels.ErrShape)
	}
	return &FusedMLP{name: name, be: be, ops: ops, FC1: fc1, Act: act, GRN: grn}, nil
}

// Name returns the layer's dotted path.
func (l *FusedMLP) Name() string { return l.name }

// Params returns FC1's and GRN's parameters, in the unfused body's order.
func (l *FusedMLP) Params() []*Param { return append(l.FC1.Params(), l.GRN.Params()...) }

// Forward computes GRN(GELU_erf(FC1(x))) for x [N, H, W, FC1.In].
func (l *FusedMLP) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.FC1.In {
		return kernels.Tensor{}, ShapeError(l.name, "FusedMLP", "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.FC1.In))
	}
	inProduct, bias := operandOf(l.FC1.Bias), kernels.Tensor{}
	if kernels.PrecisionOf(l.be) != kernels.BF16 {
		inProduct, bias = kernels.Tensor{}, l.FC1.Bias.Value
	}
	a, err := l.FC1.forward(x, inProduct)
	if err != nil {
		return kernels.Tensor{}, err
	}
	s := kernels.GRNShape{N: a.Shape[0], HW: a.Shape[1] * a.Shape[2], C: l.GRN.C, Eps: l.GRN.Eps}
	stats := kernels.Shape{s.N, s.C}
	h, err := l.Act.out.GetAct(l.be, a.Shape)
	var y, ss, g kernels.Tensor
	if err == nil {
		y, err = l.GRN.out.GetAct(l.be, a.Shape)
	}
	if err == nil {
		ss, err = l.sumSq.Get(l.be, stats)
	}
	if err == nil {
		g, err = l.GRN.gnorm.Get(l.be, stats)
	}
	if err == nil {
		err = l.ops.BiasGELUSumSq(h, ss, a, bias, s)
	}
	if err == nil {
		err = l.ops.GRNApply(y, g, h, ss, l.GRN.Gamma.Value, l.GRN.Beta.Value, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "FusedMLP", "forward", err)
	}
	l.a, l.bias, l.s = a, bias, s
	return y, nil
}

// Backward accumulates the gradients of FC1's weight and bias and GRN's
// gamma and beta, and returns dx.
func (l *FusedMLP) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.a.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "FusedMLP", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.a.Shape) {
		return kernels.Tensor{}, ShapeError(l.name, "FusedMLP", "backward", dy.Shape, l.a.Shape.String())
	}
	da, err := l.Act.dx.GetAct(l.be, l.a.Shape)
	if err == nil {
		err = l.ops.GRNGELUBackward(da, l.FC1.Bias.Grad, l.GRN.Gamma.Grad, l.GRN.Beta.Grad, dy, l.Act.out.t, l.a,
			l.bias, l.GRN.gnorm.t, l.GRN.Gamma.Value, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "FusedMLP", "backward", err)
	}
	return l.FC1.backward(da, kernels.Tensor{})
}
