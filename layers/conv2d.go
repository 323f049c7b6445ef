package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// Conv2D is a dense or grouped 2-D convolution with a square kernel over
// NHWC input, PyTorch's nn.Conv2d(CIn, COut, K, stride, padding, groups,
// bias) (see [kernels.ConvShape]):
//
//	x [N, H, W, CIn] → y [N, OH, OW, COut]; weight [COut, CIn/Groups, K, K], bias [COut]
//
// ConvNeXt uses it as the patchify stem (K = Stride = 4) and the downsampling
// layers (K = Stride = 2); EfficientNetV2's Fused-MBConv as a 3×3 convolution
// with padding 1; ResNeXt as a grouped 3×3 one.
type Conv2D struct {
	name         string
	be           kernels.Backend
	CIn, COut, K int
	Stride, Pad  int
	Groups       int    // 1: dense
	Weight, Bias *Param // Bias is nil without bias
	NoInputGrad  bool   // Backward skips dx and returns the nil tensor (a stem's input needs none)
	x            kernels.Tensor
	s            kernels.ConvShape
	out, dx, xlo Buffer // xlo holds a float32 input rounded to bf16
}

// NewConv2D returns a dense Conv2D named name with weights drawn from
// ConvNeXt's truncated normal (std 0.02) by rng (zero when rng is nil) and a
// zero bias. It returns an error if a size is not positive.
func NewConv2D(be kernels.Backend, name string, cin, cout, k, stride, pad int, bias bool, rng *rand.Rand) (*Conv2D, error) {
	return NewGroupedConv2D(be, name, cin, cout, k, stride, pad, 1, bias, rng)
}

// NewGroupedConv2D is [NewConv2D] with groups: weight [cout, cin/groups, k,
// k]. Both backends run one GEMM per group, so a depthwise convolution
// (groups = cin = cout) belongs in [DWConv], whose kernels are direct. It
// returns an error wrapping kernels.ErrShape if a size is not positive or
// groups does not divide cin and cout.
func NewGroupedConv2D(be kernels.Backend, name string, cin, cout, k, stride, pad, groups int, bias bool, rng *rand.Rand) (*Conv2D, error) {
	if cin <= 0 || cout <= 0 || k <= 0 || stride <= 0 || pad < 0 || groups <= 0 || cin%groups != 0 || cout%groups != 0 {
		return nil, fmt.Errorf("layer %s (Conv2D): invalid sizes cin=%d cout=%d k=%d stride=%d pad=%d groups=%d (must divide cin and cout): %w", name, cin, cout, k, stride, pad, groups, kernels.ErrShape)
	}
	l := &Conv2D{name: name, be: be, CIn: cin, COut: cout, K: k, Stride: stride, Pad: pad, Groups: groups}
	var err error
	if l.Weight, err = NewParam(be, Join(name, "weight"), kernels.Shape{cout, cin / groups, k, k}, true); err != nil {
		return nil, err
	}
	if err := initWeight(be, l.Weight, rng); err != nil {
		return nil, err
	}
	if bias {
		if l.Bias, err = NewParam(be, Join(name, "bias"), kernels.Shape{cout}, false); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Name returns the layer's dotted path.
func (l *Conv2D) Name() string { return l.name }

// Params returns weight and bias.
func (l *Conv2D) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Shape returns the kernels.ConvShape for an input of n×h×w.
func (l *Conv2D) Shape(n, h, w int) kernels.ConvShape {
	return kernels.ConvShape{N: n, H: h, W: w, CIn: l.CIn, COut: l.COut, K: l.K, Stride: l.Stride, Pad: l.Pad, Groups: l.Groups}
}

// Forward convolves x [N, H, W, CIn].
func (l *Conv2D) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.CIn {
		return kernels.Tensor{}, ShapeError(l.name, "Conv2D", "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.CIn))
	}
	s := l.Shape(x.Shape[0], x.Shape[1], x.Shape[2])
	if err := s.Validate(); err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Conv2D", "forward", err)
	}
	y, err := l.out.GetAct(l.be, s.YShape())
	if err == nil {
		x, err = l.xlo.GEMMInput(l.be, x)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Conv2D", "forward", err)
	}
	if err := l.be.Conv2D(y, x, l.Weight.Operand(), operandOf(l.Bias), s); err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Conv2D", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates the weight and bias gradients and returns dx, or the
// nil tensor when NoInputGrad is set.
func (l *Conv2D) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "Conv2D", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.s.YShape()) {
		return kernels.Tensor{}, ShapeError(l.name, "Conv2D", "backward", dy.Shape, l.s.YShape().String())
	}
	var dx kernels.Tensor
	if !l.NoInputGrad {
		var err error
		if dx, err = l.dx.GetAct(l.be, l.s.XShape()); err != nil {
			return kernels.Tensor{}, LayerError(l.name, "Conv2D", "backward", err)
		}
	}
	if err := l.be.Conv2DBackward(dx, l.Weight.Grad, GradOf(l.Bias), dy, l.x, l.Weight.Operand(), l.s); err != nil {
		return kernels.Tensor{}, LayerError(l.name, "Conv2D", "backward", err)
	}
	return dx, nil
}

// ParamList returns the non-nil params among ps, in order: the Params of a
// layer whose bias or zero point may be absent.
func ParamList(ps ...*Param) []*Param {
	out := make([]*Param, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// valueOf returns p's value, or the nil tensor for an absent param.
func valueOf(p *Param) kernels.Tensor {
	if p == nil {
		return kernels.Tensor{}
	}
	return p.Value
}

// operandOf returns the tensor a matrix product reads for the optional
// param p (Param.Operand: the bf16 copy in bf16 precision, as
// torch.autocast casts a Linear's or convolution's bias along with its
// weight), or the nil tensor for an absent (nil) param.
func operandOf(p *Param) kernels.Tensor {
	if p == nil {
		return kernels.Tensor{}
	}
	return p.Operand()
}

// GradOf returns p's gradient, or the nil tensor for an absent (nil) param,
// the form the backend's backward ops take an optional gradient in.
func GradOf(p *Param) kernels.Tensor {
	if p == nil {
		return kernels.Tensor{}
	}
	return p.Grad
}
