package trainer

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// targets returns the training targets [n, K] of batch b: mixed by
// mixup/cutmix (which also mixes b.Images in place) or smoothed one-hot. A
// bad label is an error that leaves the mixup generator as it was, so that
// the state saved before failing resumes at this batch.
func (t *Trainer) targets(b *datasets.Batch) ([]float32, error) {
	k := t.model.Config.NumClasses
	var targets []float32
	var err error
	if t.mixup.Config.Enabled() {
		pcg := *t.mixup.PCG
		if targets, err = t.mixup.Draw(b.H, b.W).Apply(b.Images, b.N, b.H, b.W, b.C, b.Labels, k, t.cfg.Train.LabelSmoothing); err != nil {
			*t.mixup.PCG = pcg
		}
	} else {
		targets, err = layers.SmoothedTargets(b.Labels, k, t.cfg.Train.LabelSmoothing)
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: step %d: %w", t.state.Step+1, err)
	}
	return targets, nil
}

// step runs one optimizer update on batch b with its targets [n, K]:
// upload, then the device part (deviceStep) at the scheduled learning rate,
// eagerly or as a CUDA graph (stepGraph). The per-sample losses are summed
// on the backend and read only when logged.
func (t *Trainer) step(b *datasets.Batch, targets []float32) error {
	x, err := t.upload(&t.x, kernels.Shape{b.N, b.H, b.W, b.C}, b.Images)
	var tgt kernels.Tensor
	if err == nil {
		tgt, err = t.upload(&t.tgt, kernels.Shape{b.N, t.model.Config.NumClasses}, targets)
	}
	if err == nil {
		lr := t.sched.At(t.state.Step)
		if t.graph != nil {
			err = t.graph.run(t, x, tgt, lr)
		} else {
			err = t.deviceStep(x, tgt, lr)
		}
	}
	if err != nil {
		return fmt.Errorf("trainer: step %d: %w", t.state.Step+1, err)
	}
	t.logged++
	return nil
}

// deviceStep queues the device work of one step on inputs x [n, h, w, c]
// and targets tgt [n, K]: zero the gradients, forward, loss (summed into
// lossSum), backward, clip, AdamW/SGD at learning rate lr, EMA.
func (t *Trainer) deviceStep(x, tgt kernels.Tensor, lr float64) error {
	err := t.model.Arena.ZeroGrad()
	var logits, loss, d kernels.Tensor
	if err == nil {
		logits, err = t.model.Forward(x)
	}
	if err == nil {
		loss, err = t.loss.Forward(logits, tgt)
	}
	if err == nil {
		err = t.accumulate(loss)
	}
	if err == nil {
		d, err = t.loss.Backward()
	}
	if err == nil {
		err = t.model.Backward(d)
	}
	if err == nil && t.cfg.Optim.ClipGrad > 0 {
		_, err = t.opt.ClipGradNorm()
	}
	if err == nil {
		err = t.opt.Step(lr)
	}
	if err == nil && t.ema != nil {
		err = t.ema.Update()
	}
	return err
}

// upload copies host values into *dst, reallocating it when the shape
// changes, and returns it. s is only read (so a literal stays off the heap).
func (t *Trainer) upload(dst *kernels.Tensor, s kernels.Shape, v []float32) (kernels.Tensor, error) {
	if dst.Nil() || !dst.Shape.Equal(s) {
		t.be.Free(*dst)
		x, err := t.be.Alloc(s.Clone())
		if err != nil {
			return kernels.Tensor{}, err
		}
		*dst = x
	}
	return *dst, t.be.Upload(*dst, v)
}

// accumulate adds per-sample losses into the running sum.
func (t *Trainer) accumulate(loss kernels.Tensor) error {
	if t.lossSum.Nil() || !t.lossSum.Shape.Equal(loss.Shape) {
		if t.logged > 0 {
			if err := t.logTrain(-1); err != nil {
				return err
			}
		}
		t.be.Free(t.lossSum)
		var err error
		if t.lossSum, err = t.be.Alloc(loss.Shape); err != nil {
			return err
		}
	}
	return t.be.Add(t.lossSum, t.lossSum, loss)
}

// logTrain reads the summed loss (a sync point), stops the run if it is not
// finite, and writes a metrics record and a progress line. epoch < 0 means
// "not at a logging boundary" (a flush before a checkpoint).
func (t *Trainer) logTrain(epoch int) error {
	if t.logged == 0 {
		return nil
	}
	mean, err := layers.MeanLoss(t.be, t.lossSum)
	if err != nil {
		return err
	}
	mean /= float64(t.logged)
	steps := t.logged
	t.logged = 0
	if err := t.be.Zero(t.lossSum); err != nil {
		return err
	}
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		return fmt.Errorf("trainer: mean loss over steps %d–%d is %v: %w; the run stops and %s keeps the last good state",
			t.state.Step-steps+1, t.state.Step, mean, ErrNonFinite, t.path("last"))
	}
	lr := t.sched.At(max(t.state.Step-1, 0))
	rec := map[string]any{"kind": "train", "step": t.state.Step, "epoch": float64(t.state.Step) / float64(t.perEpoch),
		"loss": mean, "lr": lr, "img_per_s": t.log.Rate(t.cfg.Train.BatchSize)}
	if err := t.log.Record(rec); err != nil {
		return err
	}
	if epoch >= 0 {
		t.log.Line(fmt.Sprintf("step %d/%d epoch %.2f loss %.4f lr %.3g %.1f img/s",
			t.state.Step, t.steps, rec["epoch"], mean, lr, rec["img_per_s"]))
	}
	return nil
}
