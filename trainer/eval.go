package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// EvalResult is an evaluation over a whole test set.
type EvalResult struct {
	Top1, Top5 float64 // accuracy in percent
	Loss       float64 // mean cross-entropy (no smoothing)
	Images     int
}

// Evaluate runs the model (or, with ema, its EMA weights) over the test set
// in evaluation mode and returns top-1/top-5 accuracy and loss.
func (t *Trainer) Evaluate(ema bool) (EvalResult, error) { return t.evaluate(ema) }

// evaluate is Evaluate; the QAT setup calls it before the EMA exists.
func (t *Trainer) evaluate(ema bool) (EvalResult, error) {
	t.graph.release() // evaluation runs the model outside the captured step
	if ema {
		if t.ema == nil {
			return EvalResult{}, fmt.Errorf("trainer: no EMA in this run")
		}
		if err := t.ema.Swap(); err != nil {
			return EvalResult{}, err
		}
		defer t.ema.Swap()
	}
	defer t.model.SetTraining(true)
	return Evaluate(context.Background(), t.model, t.data.Test, t.data.EvalPipe, t.cfg.Train.EvalBatchSize, t.cfg.Data.Workers)
}

// Evaluate runs m in evaluation mode over every image of ds (transformed by
// pipe, batches of batch) and returns top-1/top-5 accuracy and the mean
// cross-entropy. A sample's label counts as top-k only when fewer than k
// other classes have a logit at least as high (ties are misses); a
// non-finite logit is an error naming the sample (see hits).
func Evaluate(ctx context.Context, m *models.Model, ds datasets.Dataset, pipe *datasets.Pipeline, batch, workers int) (EvalResult, error) {
	loader, err := datasets.NewLoader(ctx, datasets.LoaderConfig{Dataset: ds, Pipeline: pipe, BatchSize: batch, Workers: workers, Epochs: 1})
	if err != nil {
		return EvalResult{}, fmt.Errorf("eval: %w", err)
	}
	defer loader.Close()
	m.SetTraining(false)
	be, k := m.Backend, m.Config.NumClasses
	ce := layers.NewCrossEntropy(be)
	var res EvalResult
	var x, tgt kernels.Tensor
	defer func() { be.Free(x); be.Free(tgt) }()
	scores := make([]float32, batch*k)
	var top1, top5, loss float64
	for {
		b, err := loader.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, fmt.Errorf("eval: %w", err)
		}
		if x.Nil() || !x.Shape.Equal(kernels.Shape{b.N, b.H, b.W, b.C}) {
			be.Free(x)
			be.Free(tgt)
			if x, err = be.Alloc(kernels.Shape{b.N, b.H, b.W, b.C}); err != nil {
				return res, err
			}
			if tgt, err = be.Alloc(kernels.Shape{b.N, k}); err != nil {
				return res, err
			}
		}
		onehot, err := layers.SmoothedTargets(b.Labels, k, 0)
		if err != nil {
			return res, err
		}
		if err := be.Upload(x, b.Images); err != nil {
			return res, err
		}
		if err := be.Upload(tgt, onehot); err != nil {
			return res, err
		}
		logits, err := m.Forward(x)
		if err != nil {
			return res, err
		}
		l, err := ce.Forward(logits, tgt)
		if err != nil {
			return res, err
		}
		mean, err := layers.MeanLoss(be, l)
		if err != nil {
			return res, err
		}
		loss += mean * float64(b.N)
		p := scores[:b.N*k]
		if err := be.Download(p, logits); err != nil {
			return res, err
		}
		h1, h5, err := hits(p, b.Labels, k, res.Images)
		if err != nil {
			return res, fmt.Errorf("eval: %w", err)
		}
		top1, top5 = top1+float64(h1), top5+float64(h5)
		res.Images += b.N
	}
	if res.Images == 0 {
		return res, fmt.Errorf("eval: the test set is empty")
	}
	n := float64(res.Images)
	res.Top1, res.Top5, res.Loss = 100*top1/n, 100*top5/n, loss/n
	return res, nil
}

// hits counts the samples of a batch whose label ranks first (top-1) and
// within the first five (top-5) of their logits [len(labels), k]; first is
// the batch's first index in the evaluation set. A non-finite logit is an
// error naming its sample's index in the set and wrapping kernels.ErrNaN,
// so a diverged model never scores.
func hits(logits []float32, labels []int, k, first int) (top1, top5 int, err error) {
	for i, y := range labels {
		row := logits[i*k : (i+1)*k]
		for c, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0, 0, fmt.Errorf("sample %d (label %d): logit %d is %v: %w", first+i, y, c, v, kernels.ErrNaN)
			}
		}
		r := rank(row, y)
		if r < 1 {
			top1++
		}
		if r < 5 {
			top5++
		}
	}
	return top1, top5, nil
}

// rank returns how many classes other than y score at least as high as
// class y: y is within the top k only if rank < k, so ties count against
// it (a model whose logits are all equal scores 0 %, not 100 %).
func rank(scores []float32, y int) int {
	r := 0
	for c, s := range scores {
		if c != y && s >= scores[y] {
			r++
		}
	}
	return r
}
