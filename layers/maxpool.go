package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// MaxPool2d is PyTorch's nn.MaxPool2d(K, Stride, Pad) on NHWC input: x [N,
// H, W, C] → y [N, OH, OW, C], OH = (H + 2·Pad − K)/Stride + 1 (floor);
// padding never wins. ResNet's stem pools with K 3, Stride 2, Pad 1
// (timm's resnet.py). Ties go to the first maximum in window order and a
// NaN wins ([kernels.ActivationOps].MaxPool); outputs and input gradients
// are activations (bf16 in bf16 precision).
type MaxPool2d struct {
	name           string
	be             kernels.Backend
	K, Stride, Pad int
	x              kernels.Tensor
	s              kernels.MaxPoolShape
	out, dx        Buffer
}

// NewMaxPool2d returns a k×k max pool; it returns an error for a
// non-positive k or stride or a pad above k/2.
func NewMaxPool2d(be kernels.Backend, name string, k, stride, pad int) (*MaxPool2d, error) {
	if k <= 0 || stride <= 0 || pad < 0 || 2*pad > k {
		return nil, fmt.Errorf("layer %s (MaxPool2d): kernel %d, stride %d, pad %d: need positive kernel and stride and pad <= kernel/2: %w", name, k, stride, pad, kernels.ErrShape)
	}
	return &MaxPool2d{name: name, be: be, K: k, Stride: stride, Pad: pad}, nil
}

// Name returns the layer's dotted path.
func (l *MaxPool2d) Name() string { return l.name }

// Params returns nil.
func (l *MaxPool2d) Params() []*Param { return nil }

func (l *MaxPool2d) shape(in kernels.Shape) (kernels.MaxPoolShape, error) {
	if len(in) != 4 {
		return kernels.MaxPoolShape{}, ShapeError(l.name, "MaxPool2d", "forward", in, "[N H W C]")
	}
	s := kernels.MaxPoolShape{N: in[0], H: in[1], W: in[2], C: in[3], K: l.K, Stride: l.Stride, Pad: l.Pad}
	if err := s.Validate(); err != nil {
		return s, LayerError(l.name, "MaxPool2d", "forward", err)
	}
	return s, nil
}

// Forward pools x [N, H, W, C].
func (l *MaxPool2d) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	s, err := l.shape(x.Shape)
	if err != nil {
		return kernels.Tensor{}, err
	}
	oh, ow := s.Out()
	y, err := l.out.GetAct(l.be, kernels.Shape{s.N, oh, ow, s.C})
	if err == nil {
		err = l.be.MaxPool(y, x, s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "MaxPool2d", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward routes dy [N, OH, OW, C] to each window's maximum.
func (l *MaxPool2d) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "MaxPool2d", "backward", ErrNoForward)
	}
	dx, err := l.dx.GetAct(l.be, l.x.Shape)
	if err == nil {
		err = l.be.MaxPoolBackward(dx, dy, l.x, l.s)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "MaxPool2d", "backward", err)
	}
	return dx, nil
}

// Describe: the output.
func (l *MaxPool2d) Describe(in kernels.Shape) (Info, error) {
	s, err := l.shape(in)
	if err != nil {
		return Info{}, err
	}
	oh, ow := s.Out()
	out := kernels.Shape{s.N, oh, ow, s.C}
	return Info{Kind: "MaxPool2d", Out: out, Saved: int64(out.Len())}, nil
}
