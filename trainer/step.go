package trainer

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// step runs micro-batch k of an optimizer step on the device images
// x [N, H, W, C] and targets tgt [N, K] of a batch (batchInputs): the device
// part (deviceStep) at the scheduled learning rate, eagerly or, with
// train.update_freq = 1, as a CUDA graph (stepGraph). The per-sample losses
// are summed on the backend and read only when logged.
func (t *Trainer) step(x, tgt kernels.Tensor, k int) error {
	lr := t.sched.At(t.state.Step)
	var err error
	if t.graph != nil {
		err = t.graph.run(t, x, tgt, lr)
	} else {
		err = t.deviceStep(x, tgt, lr, k == 0, k == t.cfg.Train.UpdateFreq-1)
	}
	if err != nil {
		return fmt.Errorf("trainer: step %d: %w", t.state.Step+1, err)
	}
	return nil
}

// deviceStep queues the device work of one micro-batch (microStep) and,
// when it is the optimizer step's last, the update at learning rate lr.
func (t *Trainer) deviceStep(x, tgt kernels.Tensor, lr float64, first, last bool) error {
	err := t.microStep(x, tgt, first)
	if err == nil && last {
		err = t.update(lr)
	}
	return err
}

// microStep queues the forward and backward of one micro-batch, device
// images x [N, H, W, C] and targets tgt [N, K]: zero the gradients when
// first (the optimizer step's first micro-batch), forward, loss (summed into
// lossSum, counted in logged), backward with the loss scaled by
// 1/train.update_freq, so that the gradients accumulated over the step's
// micro-batches are those of the mean loss over all their samples.
func (t *Trainer) microStep(x, tgt kernels.Tensor, first bool) error {
	var err error
	if first {
		err = t.model.Arena.ZeroGrad()
	}
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
		d, err = t.loss.BackwardScaled(1 / float64(t.cfg.Train.UpdateFreq))
	}
	if err == nil {
		err = t.model.Backward(d)
	}
	if err == nil {
		t.logged++
	}
	return err
}

// update ends an optimizer step whose gradients microStep accumulated:
// clip, AdamW/SGD at learning rate lr, EMA.
func (t *Trainer) update(lr float64) error {
	var err error
	if t.cfg.Optim.ClipGrad > 0 {
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

// batchInputs returns the device images [N, H, W, C] and soft targets
// [N, K] of batch b, mixed as the mixup generator decides. With a backend
// that implements kernels.InputOps, uint8 batches (b.Pixels) are copied
// through the stager and normalised there, and mixing and targets are
// computed there too; otherwise the host mixes the float32 batch (Mix.Apply)
// and uploads it. Both make the same float32 operations in the same order,
// so they give the same bits. A label outside [0, K) is an error before
// anything is drawn or queued, so the state saved after it resumes at this
// batch.
func (t *Trainer) batchInputs(b *datasets.Batch) (x, tgt kernels.Tensor, err error) {
	k := t.model.Config.NumClasses
	for i, y := range b.Labels {
		if y < 0 || y >= k {
			return x, tgt, fmt.Errorf("trainer: step %d: label %d of sample %d outside [0, %d)", t.state.Step+1, y, i, k)
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("trainer: step %d: %w", t.state.Step+1, err)
		}
	}()
	mix := Mix{Lam: 1}
	if t.mixup.Config.Enabled() {
		mix = t.mixup.Draw(b.H, b.W)
	}
	shape := kernels.Shape{b.N, b.H, b.W, b.C}
	in, ok := t.be.(kernels.InputOps)
	if !ok {
		var targets []float32
		if t.mixup.Config.Enabled() {
			targets, err = mix.Apply(b.Images, b.N, b.H, b.W, b.C, b.Labels, k, t.cfg.Train.LabelSmoothing)
		} else {
			targets, err = layers.SmoothedTargets(b.Labels, k, t.cfg.Train.LabelSmoothing)
		}
		if err == nil {
			x, err = t.upload(&t.x, shape, b.Images)
		}
		if err == nil {
			tgt, err = t.upload(&t.tgt, kernels.Shape{b.N, k}, targets)
		}
		return x, tgt, err
	}
	if b.Pixels != nil {
		x, err = t.stage(b, shape)
	} else {
		x, err = t.upload(&t.x, shape, b.Images)
	}
	if err == nil && mix.Lam != 1 {
		if mix.Cutmix {
			err = in.MixCut(x, mix.Box)
		} else {
			err = in.MixBlend(x, mix.Lam)
		}
	}
	if err != nil {
		return x, tgt, err
	}
	t.labelBuf = t.labelBuf[:0]
	for _, y := range b.Labels {
		t.labelBuf = append(t.labelBuf, float32(y))
	}
	labels, err := t.upload(&t.labels, kernels.Shape{b.N}, t.labelBuf)
	if err == nil {
		tgt, err = t.alloc(&t.tgt, kernels.Shape{b.N, k})
	}
	if err == nil {
		err = in.MixTargets(tgt, labels, mix.Lam, t.cfg.Train.LabelSmoothing, t.mixup.Config.Enabled())
	}
	return x, tgt, err
}

// stage copies the uint8 batch b into the stager's next host buffer and
// queues its copy and normalisation into the device images.
func (t *Trainer) stage(b *datasets.Batch, shape kernels.Shape) (kernels.Tensor, error) {
	if t.stager == nil {
		return kernels.Tensor{}, fmt.Errorf("pixel batch without a stager")
	}
	host, err := t.stager.Host(len(b.Pixels))
	if err != nil {
		return kernels.Tensor{}, err
	}
	copy(host, b.Pixels)
	x, err := t.alloc(&t.x, shape)
	if err == nil {
		err = t.stager.Normalize(x)
	}
	return x, err
}

// upload copies host values into *dst, reallocating it when the shape
// changes, and returns it. s is only read (so a literal stays off the heap).
func (t *Trainer) upload(dst *kernels.Tensor, s kernels.Shape, v []float32) (kernels.Tensor, error) {
	return uploadTo(t.be, dst, s, v)
}

// alloc returns *dst, reallocated when its shape is not s.
func (t *Trainer) alloc(dst *kernels.Tensor, s kernels.Shape) (kernels.Tensor, error) {
	return allocTo(t.be, dst, s)
}

// allocTo returns *dst, reallocated on be when its shape is not s.
func allocTo(be kernels.Backend, dst *kernels.Tensor, s kernels.Shape) (kernels.Tensor, error) {
	if dst.Nil() || !dst.Shape.Equal(s) {
		be.Free(*dst)
		x, err := be.Alloc(s.Clone())
		if err != nil {
			return kernels.Tensor{}, err
		}
		*dst = x
	}
	return *dst, nil
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
	steps := max(t.logged/t.cfg.Train.UpdateFreq, 1) // logged counts micro-batches
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
		"loss": mean, "lr": lr, "img_per_s": t.log.Rate(t.cfg.Train.BatchSize * t.cfg.Train.UpdateFreq)}
	if err := t.log.Record(rec); err != nil {
		return err
	}
	tl := TrainLog{Step: t.state.Step, Epoch: rec["epoch"].(float64), Loss: mean, LR: lr, ImgPerSec: rec["img_per_s"].(float64)}
	if err := callHook(t, "OnLog", t.hooks.OnLog, tl); err != nil {
		return err
	}
	if epoch >= 0 {
		t.log.Line(fmt.Sprintf("step %d/%d epoch %.2f loss %.4f lr %.3g %.1f img/s",
			t.state.Step, t.steps, rec["epoch"], mean, lr, rec["img_per_s"]))
	}
	return nil
}

// rngs is the state of the generators a micro-batch draws from: drop path
// and mixup/cutmix.
type rngs struct{ drop, mixup philox.Generator }

func (t *Trainer) rngState() rngs { return rngs{*t.model.DropRNG, *t.mixup.RNG} }

func (t *Trainer) restoreRNG(r rngs) { *t.model.DropRNG, *t.mixup.RNG = r.drop, r.mixup }

// accumulationNote describes gradient accumulation for the start line.
func accumulationNote(c TrainConfig) string {
	if c.UpdateFreq == 1 {
		return ""
	}
	return fmt.Sprintf(", each accumulated from %d micro-batches of %d", c.UpdateFreq, c.BatchSize)
}
