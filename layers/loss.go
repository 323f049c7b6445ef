package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// CrossEntropy is the softmax cross-entropy of logits against target
// distributions, averaged over the batch: timm's SoftTargetCrossEntropy, and
// LabelSmoothingCrossEntropy when the targets come from [SmoothedTargets].
//
//	logits, target [N, K]; per-sample loss [N]
type CrossEntropy struct {
	be            kernels.Backend
	s             kernels.LossShape
	target        kernels.Tensor
	loss, prob    Buffer
	dlogits       Buffer
	forwardCalled bool
}

// NewCrossEntropy returns the loss on be.
func NewCrossEntropy(be kernels.Backend) *CrossEntropy { return &CrossEntropy{be: be} }

// Forward computes the per-sample losses [N] (on the backend; read them with
// [MeanLoss] only when needed, it is a sync point on a GPU).
func (c *CrossEntropy) Forward(logits, target kernels.Tensor) (kernels.Tensor, error) {
	if len(logits.Shape) != 2 || !target.Shape.Equal(logits.Shape) {
		return kernels.Tensor{}, fmt.Errorf("loss (CrossEntropy) forward: logits %v and target %v must both be [N K]: %w", logits.Shape, target.Shape, kernels.ErrShape)
	}
	s := kernels.LossShape{N: logits.Shape[0], K: logits.Shape[1]}
	loss, err := c.loss.Get(c.be, kernels.Shape{s.N})
	var prob kernels.Tensor
	if err == nil {
		prob, err = c.prob.Get(c.be, logits.Shape)
	}
	if err == nil {
		err = c.be.CrossEntropy(loss, prob, logits, target, s)
	}
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("loss (CrossEntropy) forward: %w", err)
	}
	c.s, c.target, c.forwardCalled = s, target, true
	return loss, nil
}

// Backward returns dL/dlogits of the batch-mean loss, (prob − target)/N.
func (c *CrossEntropy) Backward() (kernels.Tensor, error) { return c.BackwardScaled(1) }

// BackwardScaled returns scale·(prob − target)/N, the gradient of the
// batch-mean loss times scale: 1/M for each of M accumulated micro-batches,
// so that their summed gradients are those of the mean over all M·N samples
// (gradient accumulation, the official ConvNeXt recipes' update_freq).
func (c *CrossEntropy) BackwardScaled(scale float64) (kernels.Tensor, error) {
	if !c.forwardCalled {
		return kernels.Tensor{}, fmt.Errorf("loss (CrossEntropy) backward: %w", ErrNoForward)
	}
	d, err := c.dlogits.GetAct(c.be, kernels.Shape{c.s.N, c.s.K})
	if err == nil {
		err = c.be.CrossEntropyBackward(d, c.prob.t, c.target, scale/float64(c.s.N), c.s)
	}
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("loss (CrossEntropy) backward: %w", err)
	}
	return d, nil
}

// Prob returns the softmax probabilities [N, K] of the last Forward.
func (c *CrossEntropy) Prob() kernels.Tensor { return c.prob.t }

// MeanLoss downloads per-sample losses and returns their mean.
func MeanLoss(be kernels.Backend, loss kernels.Tensor) (float64, error) {
	v := make([]float32, loss.Len())
	if err := be.Download(v, loss); err != nil {
		return 0, err
	}
	sum := 0.0
	for _, x := range v {
		sum += float64(x)
	}
	return sum / float64(len(v)), nil
}

// SmoothedTargets returns the [len(labels), k] target rows (1 − ε)·onehot +
// ε/k, which make CrossEntropy equal timm's LabelSmoothingCrossEntropy and
// PyTorch's F.cross_entropy(label_smoothing=ε). It returns an error for a
// label outside [0, k) or ε outside [0, 1].
func SmoothedTargets(labels []int, k int, smoothing float64) ([]float32, error) {
	if k <= 0 || !(smoothing >= 0 && smoothing <= 1) {
		return nil, fmt.Errorf("loss: invalid classes %d or smoothing %v", k, smoothing)
	}
	t := make([]float32, len(labels)*k)
	off, on := smoothing/float64(k), 1-smoothing+smoothing/float64(k)
	for i, y := range labels {
		if y < 0 || y >= k {
			return nil, fmt.Errorf("loss: label %d of sample %d outside [0, %d)", y, i, k)
		}
		row := t[i*k : (i+1)*k]
		for j := range row {
			row[j] = float32(off)
		}
		row[y] = float32(on)
	}
	return t, nil
}
