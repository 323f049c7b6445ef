package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Hooks are callbacks Run makes as the run progresses, for programs that
// drive many runs (train study) or record more than metrics.jsonl holds.
// Each is optional. A hook runs on Run's goroutine between steps; an error
// it returns stops the run as a failed evaluation does: last.safetensors is
// saved (when there are steps since it was) and Run returns the error.
type Hooks struct {
	// OnStep follows every optimizer step, after its logging, evaluation
	// and checkpoint.
	OnStep func(StepInfo) error
	// OnLog follows every "train" record written to metrics.jsonl (every
	// train.log_every steps).
	OnLog func(TrainLog) error
	// OnEval follows every evaluation on the test set and the checkpoint
	// saves after it.
	OnEval func(EvalLog) error
}

// StepInfo is the progress after one optimizer step.
type StepInfo struct {
	Step  int // optimizer steps done, 1 … Steps
	Steps int // the run's total optimizer steps
	// Images is the number of training images one step consumes
	// (train.batch_size × train.update_freq).
	Images int
}

// TrainLog is one "train" record of metrics.jsonl.
type TrainLog struct {
	Step      int
	Epoch     float64 // optimizer steps / steps per epoch
	Loss      float64 // mean training loss since the previous record
	LR        float64 // learning rate of the record's last step
	ImgPerSec float64 // training images per second since the previous record
}

// EvalLog is one "eval" record of metrics.jsonl: test top-1 and top-5 in
// percent of the weights (and, with an EMA, of the EMA weights; 0 without).
type EvalLog struct {
	Step             int
	Top1, Top5, Loss float64
	EMATop1, EMATop5 float64
}

// SetHooks installs the callbacks the next Run makes.
func (t *Trainer) SetHooks(h Hooks) { t.hooks = h }

// Options are the optional inputs of Train.
type Options struct {
	// Log receives the human-readable progress (nil: discarded). A
	// terminal gets a progress bar.
	Log io.Writer
	// Hooks are installed on the trainer (Trainer.SetHooks).
	Hooks Hooks
	// Label names the run on its progress bar ("train" when empty).
	Label string
}

// Train is one whole training run from Go: it opens the backend
// train.backend names, builds a Trainer from cfg (New), runs it (Run) and
// closes both, so that every allocation of the run — device memory
// included — is released when it returns, and Train can be called any
// number of times in one process. On the CPU backend, runs with the same
// configuration and seed give bit-identical checkpoints and results
// (TestTrainTwiceInOneProcess). The errors are those of
// Config.Validate, OpenBackend, New and Run (ErrInterrupted when ctx was
// cancelled, after saving last.safetensors; rerun with train.resume to
// continue), joined with any error closing them.
func Train(ctx context.Context, cfg Config, o Options) (res Result, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	be, closeBE, err := OpenBackend(cfg.Train.Backend)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, closeBE()) }()
	t, err := New(ctx, cfg, be, o.Log)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, t.Close()) }()
	t.SetHooks(o.Hooks)
	t.log.label = o.Label
	return t.Run(ctx)
}

// callHook runs hook h (when set) with v and saves last.safetensors before
// returning its error, naming the hook.
func callHook[T any](t *Trainer, name string, h func(T) error, v T) error {
	if h == nil {
		return nil
	}
	if err := h(v); err != nil {
		return t.saveBeforeFailing(fmt.Errorf("trainer: %s hook at step %d: %w", name, t.state.Step, err))
	}
	return nil
}
