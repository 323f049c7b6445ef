package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// BatchNorm2d is batch normalization over the channels of NHWC activations
// (Ioffe & Szegedy 2015; PyTorch's nn.BatchNorm2d with affine=True and
// track_running_stats=True):
//
//	y = (x − mean)·rstd·weight + bias,   rstd = 1/sqrt(var + Eps)
//
// with x, y [N, H, W, C] and every other tensor [C]. In training (the
// initial mode, as in PyTorch) mean and the biased var are the batch's over
// N·H·W, and each forward updates the running estimates with PyTorch's
// momentum, running = (1 − Momentum)·running + Momentum·batch, the variance
// from its unbiased estimate, and adds 1 to num_batches_tracked; in
// evaluation the running estimates normalize. Names follow PyTorch's and
// timm's state dicts: name.weight (ones), name.bias (zeros) are parameters
// without weight decay; name.running_mean (zeros), name.running_var (ones)
// and name.num_batches_tracked (a single count, stored as a float) are
// buffers ([BufferHolder]).
type BatchNorm2d struct {
	name          string
	be            kernels.Backend
	C             int
	Eps, Momentum float64
	Weight, Bias  *Param
	// RunningMean, RunningVar and NumBatchesTracked are buffers: Params
	// with no gradient that checkpoints save and optimizers skip.
	RunningMean, RunningVar, NumBatchesTracked *Param
	training                                   bool
	one                                        kernels.Tensor // [1] holding 1, added to NumBatchesTracked
	x                                          kernels.Tensor
	s                                          kernels.BatchNormShape
	out, dx, mean, rstd                        Buffer
}

// DefaultBNEps and DefaultBNMomentum are PyTorch's nn.BatchNorm2d defaults.
const (
	DefaultBNEps      = 1e-5
	DefaultBNMomentum = 0.1
)

// NewBatchNorm2d returns a BatchNorm2d over c channels in training mode
// with weight 1, bias 0, running mean 0 and running variance 1 (PyTorch's
// reset_parameters). It returns an error wrapping kernels.ErrShape naming
// the layer for c <= 0, a negative or non-finite eps or a momentum outside
// [0, 1], or be's allocation error.
func NewBatchNorm2d(be kernels.Backend, name string, c int, eps, momentum float64) (*BatchNorm2d, error) {
	s := kernels.BatchNormShape{Rows: 1, C: c, Eps: eps, Momentum: momentum}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s (BatchNorm2d): %w", name, err)
	}
	l := &BatchNorm2d{name: name, be: be, C: c, Eps: eps, Momentum: momentum, training: true}
	var err error
	if l.Weight, err = NewParam(be, Join(name, "weight"), kernels.Shape{c}, false); err != nil {
		return nil, err
	}
	if l.Bias, err = NewParam(be, Join(name, "bias"), kernels.Shape{c}, false); err != nil {
		return nil, err
	}
	if l.RunningMean, err = newBuffer(be, Join(name, "running_mean"), c); err != nil {
		return nil, err
	}
	if l.RunningVar, err = newBuffer(be, Join(name, "running_var"), c); err != nil {
		return nil, err
	}
	if l.NumBatchesTracked, err = newBuffer(be, Join(name, "num_batches_tracked"), 1); err != nil {
		return nil, err
	}
	if l.one, err = be.Alloc(kernels.Shape{1}); err != nil {
		return nil, fmt.Errorf("layers: %s constant: %w", name, err)
	}
	for _, t := range []kernels.Tensor{l.Weight.Value, l.RunningVar.Value, l.one} {
		if err := fill(be, t, 1); err != nil {
			return nil, fmt.Errorf("layers: %s init: %w", name, err)
		}
	}
	return l, nil
}

// newBuffer allocates a zero buffer [n] named name: a Param without a
// gradient.
func newBuffer(be kernels.Backend, name string, n int) (*Param, error) {
	v, err := be.Alloc(kernels.Shape{n})
	if err != nil {
		return nil, fmt.Errorf("layers: buffer %s [%d]: %w", name, n, err)
	}
	return &Param{Name: name, Value: v}, nil
}

// fill sets every element of t to v.
func fill(be kernels.Backend, t kernels.Tensor, v float32) error {
	h := make([]float32, t.Len())
	for i := range h {
		h[i] = v
	}
	return be.Upload(t, h)
}

// Name returns the layer's dotted path.
func (l *BatchNorm2d) Name() string { return l.name }

// Params returns weight and bias.
func (l *BatchNorm2d) Params() []*Param { return ParamList(l.Weight, l.Bias) }

// Buffers returns running_mean, running_var and num_batches_tracked, in
// PyTorch's state-dict order.
func (l *BatchNorm2d) Buffers() []*Param {
	return []*Param{l.RunningMean, l.RunningVar, l.NumBatchesTracked}
}

// SetTraining switches between batch statistics with running-estimate
// updates (training) and the running estimates (evaluation).
func (l *BatchNorm2d) SetTraining(on bool) { l.training = on }

// Forward normalizes x [N, H, W, C]. In training it needs N·H·W > 1 (the
// unbiased running variance needs two values per channel, as in PyTorch)
// and returns an error wrapping kernels.ErrShape otherwise.
func (l *BatchNorm2d) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) != 4 || x.Shape[3] != l.C {
		return kernels.Tensor{}, ShapeError(l.name, "BatchNorm2d", "forward", x.Shape, fmt.Sprintf("[N H W %d]", l.C))
	}
	s := kernels.BatchNormShape{Rows: x.Len() / l.C, C: l.C, Eps: l.Eps, Momentum: l.Momentum, Training: l.training}
	y, err := l.out.Get(l.be, x.Shape)
	var mean, rstd kernels.Tensor
	if err == nil {
		mean, err = l.mean.Get(l.be, kernels.Shape{l.C})
	}
	if err == nil {
		rstd, err = l.rstd.Get(l.be, kernels.Shape{l.C})
	}
	if err == nil {
		err = l.be.BatchNorm(y, mean, rstd, x, l.Weight.Value, l.Bias.Value, l.RunningMean.Value, l.RunningVar.Value, s)
	}
	if err == nil && s.Training {
		err = l.be.Add(l.NumBatchesTracked.Value, l.NumBatchesTracked.Value, l.one)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "BatchNorm2d", "forward", err)
	}
	l.x, l.s = x, s
	return y, nil
}

// Backward accumulates weight and bias gradients and returns dx: through
// the batch statistics if the last Forward was in training mode, through
// the affine map of the running estimates otherwise.
func (l *BatchNorm2d) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	return sameShapeBackward(l.be, l.name, "BatchNorm2d", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.BatchNormBackward(dx, l.Weight.Grad, l.Bias.Grad, dy, l.x, l.mean.t, l.rstd.t, l.Weight.Value, l.s)
	})
}

// Describe: the output and the mean and inverse deviation per channel.
func (l *BatchNorm2d) Describe(in kernels.Shape) (Info, error) {
	if err := nhwc(l.name, "BatchNorm2d", in, l.C); err != nil {
		return Info{}, err
	}
	return Info{Kind: "BatchNorm2d", Out: in.Clone(), Saved: int64(in.Len() + 2*l.C)}, nil
}
