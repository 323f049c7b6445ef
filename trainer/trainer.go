// Package trainer runs nextconv's training loop: data loading, mixup/cutmix,
// forward, loss, backward, optimizer step with schedule and layer-wise decay,
// EMA, evaluation, checkpoints that resume bit-identically, metrics as JSON
// Lines and a progress display.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
	"github.com/nextconv/nextconv/qat"
)

// Trainer owns one run: model, optimizer, data and outputs.
type Trainer struct {
	cfg        Config
	be         kernels.Backend
	data       *Data
	model      *models.Model
	opt        *optim.Optimizer
	ema        *optim.EMA
	sched      optim.Cosine
	mixup      *Mixup
	loss       *layers.CrossEntropy
	state      State
	steps      int // total optimizer steps of the run
	perEpoch   int
	log        *Logger
	lock       *fsutil.FileLock // out_dir's run.lock
	x, tgt     kernels.Tensor   // device copies of the current batch
	labels     kernels.Tensor   // the batch's labels as floats (device targets)
	labelBuf   []float32        // host staging of labels
	stager     kernels.Stager   // uint8 batches to the backend (nil: float32 batches)
	lossSum    kernels.Tensor   // per-sample losses summed since the last log line
	logged     int              // steps summed into lossSum
	stopAt     int              // StopAfter's step, 0 = none
	savedStep  int              // step of the last save of last.safetensors
	quantized  []*qat.Quantized // fake quantizers of a QAT run
	qatResults QATResults
	graph      *stepGraph        // CUDA graph of the step, nil when off
	hooks      Hooks             // SetHooks
	pauses     time.Duration     // Run's time in evaluations and saves, left out of Result.ImgPerSec
	runStart   time.Time         // when Run started (zero outside Run); State.Seconds counts from here
	precision  kernels.Precision // train.precision resolved for the backend
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Steps    int     `json:"steps"`
	Top1     float64 `json:"top1"` // last evaluation, percent
	Top5     float64 `json:"top5"`
	EMATop1  float64 `json:"ema_top1,omitempty"`
	BestTop1 float64 `json:"best_top1"`
	// Seconds is the run's wall time, evaluations and saves included,
	// summed over the runs that resumed it (State.Seconds).
	Seconds float64 `json:"seconds"`
	// ImgPerSec is training images per second over this Run's steps,
	// evaluations and checkpoint saves left out (the first step's warm-up
	// included).
	ImgPerSec float64 `json:"img_per_s"`
}

// New prepares a run on backend be: it claims out_dir (see openOutDir: a
// lock, and a refusal to replace a run there unless train.overwrite is set),
// loads the data, builds the model (or resumes it from
// out_dir/last.safetensors when train.resume is set, warning about changed
// settings), the optimizer, schedule, EMA and mixup, and opens the outputs.
// log receives human-readable progress. Close releases out_dir.
func New(ctx context.Context, cfg Config, be kernels.Backend, log io.Writer) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	lock, err := openOutDir(cfg.Train, log)
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, be: be, lock: lock, loss: layers.NewCrossEntropy(be)}
	if err := t.init(ctx, log); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// init is New after out_dir is claimed.
func (t *Trainer) init(ctx context.Context, log io.Writer) error {
	cfg, be := t.cfg, t.be
	data, err := LoadData(ctx, cfg.Data)
	if err != nil {
		return err
	}
	t.data = data
	mc, err := cfg.ModelConfig(data.Info.C, data.Info.NumClasses())
	if err != nil {
		return err
	}
	setting := cfg.Train.Precision
	if setting == "" && cfg.QAT.Enabled {
		setting = string(kernels.FP32) // fake quantization runs in fp32
	}
	if setting, err = ModelPrecision(cfg.Train.Backend, setting, mc); err != nil {
		return fmt.Errorf("config: train.precision: %w", err)
	}
	if t.precision, err = SetPrecision(be, cfg.Train.Backend, setting); err != nil {
		return fmt.Errorf("config: train.precision = %q on backend %s: %w", setting, cfg.Train.Backend, err)
	}
	if t.model, err = models.New(be, mc, cfg.Train.Seed); err != nil {
		return err
	}
	resume := cfg.Train.Resume
	if cfg.Train.Overwrite {
		if err := t.clearOutDir(log); err != nil {
			return err
		}
	}
	if t.log, err = NewLogger(cfg.Train.OutDir, log, resume); err != nil {
		return err
	}
	if cfg.Model.Pretrained != "" && !resume {
		if err := t.loadPretrained(cfg.Model.Pretrained); err != nil {
			return err
		}
	}
	if cfg.QAT.Enabled {
		if resume {
			t.quantized, err = Quantize(t.model, cfg.QAT)
		} else {
			err = t.setupQAT(ctx)
		}
		if err != nil {
			return err
		}
		for _, f := range qat.FakeQuants(t.quantized) {
			if cfg.QAT.FreezeAfter > 0 && !resume { // observers count forward passes, update_freq per step
				f.FreezeObserverAfter(f.Steps() + cfg.QAT.FreezeAfter*cfg.Train.UpdateFreq)
			}
		}
	}
	var scale func(string) float64
	if cfg.Optim.LayerDecay != 1 {
		if scale, err = t.model.LayerDecay(cfg.Optim.LayerDecay, cfg.Optim.LayerDecayMode); err != nil {
			return err
		}
	}
	if t.opt, err = optim.New(be, t.model.Arena, cfg.Optim.Config, scale); err != nil {
		return err
	}
	if cfg.EMA.Decay > 0 {
		if t.ema, err = optim.NewEMA(be, t.model.Arena, cfg.EMA.Decay); err != nil {
			return err
		}
	}
	if t.mixup, err = NewMixup(cfg.Mixup, cfg.Train.Seed); err != nil {
		return err
	}
	// An epoch is ⌊images / (batch_size·update_freq)⌋ optimizer steps, as in
	// the official ConvNeXt code; micro-batches run on across the data
	// stream's epoch boundaries, so no image is skipped.
	t.perEpoch = datasets.StepsPerEpoch(data.Train.Len(), cfg.Train.BatchSize, true) / cfg.Train.UpdateFreq
	if t.perEpoch == 0 {
		return fmt.Errorf("trainer: %d training images make no optimizer step of %d micro-batches of %d",
			data.Train.Len(), cfg.Train.UpdateFreq, cfg.Train.BatchSize)
	}
	t.steps = cfg.Train.Epochs * t.perEpoch
	if cfg.Train.MaxSteps > 0 && (cfg.Train.Epochs <= 0 || cfg.Train.MaxSteps < t.steps) {
		t.steps = cfg.Train.MaxSteps
	}
	warm := cfg.Optim.WarmupSteps
	if warm == 0 {
		warm = int(math.Round(cfg.Optim.WarmupEpochs * float64(t.perEpoch)))
	}
	t.sched = optim.Cosine{Base: cfg.Optim.LR, Min: cfg.Optim.MinLR, Warmup: min(warm, t.steps-1), Total: t.steps}
	if err := t.sched.Validate(); err != nil {
		return err
	}
	t.graph = newStepGraph(t)
	if !resume {
		return nil
	}
	stored, err := t.loadCheckpoint(t.path("last"))
	if err != nil {
		return fmt.Errorf("trainer: resume: %w", err)
	}
	if err := t.resumeBestTop1(); err != nil {
		return err
	}
	t.savedStep = t.state.Step
	return t.warnChangedSettings(stored)
}

// StopAfter makes Run stop after the given step as if interrupted: it saves
// last.safetensors and returns ErrInterrupted (used to test resume).
func (t *Trainer) StopAfter(step int) { t.stopAt = step }

// Close releases the step's CUDA graph, flushes and closes the run's
// metrics file and releases out_dir.
func (t *Trainer) Close() error {
	t.graph.release()
	var err error
	if t.log != nil {
		err = t.log.Close()
	}
	return errors.Join(err, t.lock.Unlock())
}

// Model returns the model being trained.
func (t *Trainer) Model() *models.Model { return t.model }

// Steps returns the run's total number of optimizer steps.
func (t *Trainer) Steps() int { return t.steps }

// State returns the current progress.
func (t *Trainer) State() State { return t.state }

// path returns out_dir/<name>.safetensors.
func (t *Trainer) path(name string) string {
	return filepath.Join(t.cfg.Train.OutDir, name+".safetensors")
}

// ErrInterrupted is returned by Run when its context was cancelled (SIGINT)
// or the time limit passed; a checkpoint was saved first.
var ErrInterrupted = errors.New("training interrupted; state saved to last.safetensors")

// Run trains until the configured number of steps, evaluating and saving
// last.safetensors (and best.safetensors on a new best top-1) every epoch or
// every train.eval_every / train.checkpoint_every steps. Cancelling ctx
// saves a checkpoint and returns ErrInterrupted. A bad training sample or a
// failed evaluation saves last.safetensors and stops the run with the error.
// A non-finite loss stops the run with an error wrapping ErrNonFinite and
// leaves the last checkpoint as it was. A failed metrics write stops it too.
func (t *Trainer) Run(ctx context.Context) (Result, error) {
	start, first := time.Now(), t.state.Step
	t.pauses, t.runStart = 0, start
	defer func() { t.runStart = time.Time{} }()
	res := Result{BestTop1: t.state.BestTop1}
	if err := fsutil.WriteAtomic(filepath.Join(t.cfg.Train.OutDir, configFile), func(w io.Writer) error {
		_, err := io.WriteString(w, t.cfg.TOML())
		return err
	}); err != nil {
		return res, fmt.Errorf("trainer: %w", err)
	}
	fmt.Fprintf(t.log.out, "model %s: %d parameters on %s (%s), %d steps of %d images (%d per epoch)%s\n",
		t.model.Config.Name, t.model.NumParams(), t.be.Name(), t.precision, t.steps,
		t.cfg.Train.BatchSize*t.cfg.Train.UpdateFreq, t.perEpoch, accumulationNote(t.cfg.Train))
	in, onDevice := t.be.(kernels.InputOps)
	pipe := t.data.TrainPipe
	onDevice = onDevice && t.cfg.Data.DeviceInput && len(pipe.Tensor) == 0 && pipe.Normalize != nil
	loader, err := datasets.NewLoader(ctx, datasets.LoaderConfig{
		Dataset: t.data.Train, Pipeline: pipe, BatchSize: t.cfg.Train.BatchSize,
		Shuffle: true, DropLast: true, Seed: t.cfg.Train.Seed, Workers: t.cfg.Data.Workers,
		Prefetch: t.cfg.Data.Prefetch, Start: t.state.Loader, Pixels: onDevice,
	})
	if err != nil {
		return res, fmt.Errorf("trainer: %w", err)
	}
	defer loader.Close()
	if onDevice {
		h, w, c := loader.Shape()
		if t.stager, err = in.NewStager(t.cfg.Train.BatchSize*h*w*c, pipe.Normalize.Mean(), pipe.Normalize.Std()); err != nil {
			return res, fmt.Errorf("trainer: input stage: %w", err)
		}
		defer func() {
			t.stager.Close()
			t.stager = nil
		}()
	}
	deadline := time.Time{}
	if d := t.cfg.Train.TimeLimit.Duration; d > 0 {
		deadline = start.Add(d)
	}
	if first >= t.steps {
		return t.complete(res)
	}
	t.log.StartProgress(t.steps, t.state.Step)
	defer t.log.StopProgress()
	t.model.SetTraining(true)
	for t.state.Step < t.steps {
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			return t.stop(res, start)
		}
		// One optimizer step accumulates train.update_freq micro-batches.
		// Checkpoints are written only between steps, so a step stopped
		// part-way restores the generators its micro-batches advanced and is
		// redone in full on resume (the fake quantizers' observers keep what
		// they saw of it).
		rng := t.rngState()
		epoch := 0
		for k := range t.cfg.Train.UpdateFreq {
			b, err := loader.Next()
			if err != nil {
				t.restoreRNG(rng)
				if ctx.Err() != nil {
					return t.stop(res, start)
				}
				return res, t.saveBeforeFailing(fmt.Errorf("trainer: data: %w", err))
			}
			x, tgt, err := t.batchInputs(b)
			if err != nil {
				t.restoreRNG(rng)
				return res, t.saveBeforeFailing(err)
			}
			if err := t.step(x, tgt, k); err != nil {
				return res, err
			}
			epoch = b.Epoch
		}
		t.state.Step++
		t.state.Loader = loader.State()
		t.log.Tick()
		step := t.state.Step
		if step%t.cfg.Train.LogEvery == 0 || step == t.steps {
			if err := t.logTrain(epoch); err != nil {
				return res, err
			}
		}
		evalNow := step == t.steps || (t.cfg.Train.EvalEvery > 0 && step%t.cfg.Train.EvalEvery == 0) ||
			(t.cfg.Train.EvalEvery == 0 && step%t.perEpoch == 0)
		pause := time.Now()
		if evalNow {
			if err := t.evaluateAndSave(&res); err != nil {
				return res, err
			}
		} else if ce := t.cfg.Train.CheckpointEvery; ce > 0 && step%ce == 0 {
			if err := t.checkedSave("last"); err != nil {
				return res, err
			}
		}
		t.pauses += time.Since(pause)
		images := t.cfg.Train.BatchSize * t.cfg.Train.UpdateFreq
		if err := callHook(t, "OnStep", t.hooks.OnStep, StepInfo{Step: step, Steps: t.steps, Images: images}); err != nil {
			return res, err
		}
		if step == t.stopAt && step < t.steps {
			return t.stop(res, start)
		}
	}
	elapsed := time.Since(start)
	res.Steps, res.Seconds = t.state.Step, t.state.Seconds+elapsed.Seconds()
	if train := (elapsed - t.pauses).Seconds(); train > 0 {
		res.ImgPerSec = float64((t.state.Step-first)*t.cfg.Train.BatchSize*t.cfg.Train.UpdateFreq) / train
	}
	return res, nil
}

// complete is Run on a resumed run that has no steps left: it evaluates the
// restored weights (and EMA) so that the Result reports their accuracy
// rather than zeros, and trains, records and saves nothing.
func (t *Trainer) complete(res Result) (Result, error) {
	t.log.Printf("the run was already complete at step %d; evaluating its last checkpoint", t.state.Step)
	ev, err := t.Evaluate(false)
	if err != nil {
		return res, err
	}
	res.Top1, res.Top5 = ev.Top1, ev.Top5
	if t.ema != nil {
		evEMA, err := t.Evaluate(true)
		if err != nil {
			return res, err
		}
		res.EMATop1 = evEMA.Top1
	}
	res.Steps, res.Seconds = t.state.Step, t.state.Seconds
	return res, nil
}

// stop saves the state after an interruption and returns ErrInterrupted.
func (t *Trainer) stop(res Result, start time.Time) (Result, error) {
	if err := t.checkedSave("last"); err != nil {
		return res, err
	}
	res.Steps, res.Seconds = t.state.Step, t.state.Seconds+time.Since(start).Seconds()
	t.log.Printf("stopped at step %d; resume with train.resume = true", t.state.Step)
	return res, ErrInterrupted
}

// checkedSave flushes the loss (failing on a non-finite one, before anything
// is written) and saves <name>.safetensors.
func (t *Trainer) checkedSave(name string) error {
	if t.logged > 0 {
		if err := t.logTrain(-1); err != nil {
			return err
		}
	}
	if err := t.saveCheckpoint(t.path(name)); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if name == "last" {
		t.savedStep = t.state.Step
	}
	return nil
}

// saveBeforeFailing saves last.safetensors, when there are steps since it
// was saved, after err left the training state intact (a bad sample, a
// failed evaluation), so that no progress is lost, and returns err (joined
// with the save's error, if any).
func (t *Trainer) saveBeforeFailing(err error) error {
	if t.state.Step == t.savedStep {
		return err
	}
	if serr := t.checkedSave("last"); serr != nil {
		return errors.Join(err, serr)
	}
	t.log.Printf("saved step %d to %s before stopping", t.state.Step, t.path("last"))
	return err
}

// evaluateAndSave evaluates the weights (and the EMA), records metrics and
// saves, on a new best, best and then last: a kill between the two leaves a
// last whose best_top1 is older than best's, which resuming reconciles
// (resumeBestTop1), never a best_top1 naming weights that best lacks. A
// failed evaluation saves last before returning its error.
func (t *Trainer) evaluateAndSave(res *Result) error {
	if t.logged > 0 {
		if err := t.logTrain(-1); err != nil {
			return err
		}
	}
	ev, err := t.Evaluate(false)
	if err != nil {
		return t.saveBeforeFailing(err)
	}
	res.Top1, res.Top5 = ev.Top1, ev.Top5
	if t.quantized != nil {
		if err := t.writeQATResults(ev.Top1); err != nil {
			return t.saveBeforeFailing(err)
		}
	}
	rec := map[string]any{"kind": "eval", "step": t.state.Step, "epoch": float64(t.state.Step) / float64(t.perEpoch),
		"top1": ev.Top1, "top5": ev.Top5, "loss": ev.Loss, "images": ev.Images}
	best := ev.Top1
	if t.ema != nil {
		evEMA, err := t.Evaluate(true)
		if err != nil {
			return t.saveBeforeFailing(err)
		}
		res.EMATop1 = evEMA.Top1
		rec["ema_top1"], rec["ema_top5"] = evEMA.Top1, evEMA.Top5
		best = max(best, evEMA.Top1)
	}
	if err := t.log.Record(rec); err != nil {
		return err
	}
	t.log.Printf("step %d eval: top-1 %.2f%% top-5 %.2f%% loss %.4f%s", t.state.Step, ev.Top1, ev.Top5, ev.Loss, emaNote(rec))
	isBest := best > t.state.BestTop1
	if isBest {
		t.state.BestTop1 = best
	}
	res.BestTop1 = t.state.BestTop1
	if isBest {
		if err := t.checkedSave("best"); err != nil {
			return err
		}
	}
	if err := t.checkedSave("last"); err != nil {
		return err
	}
	el := EvalLog{Step: t.state.Step, Top1: ev.Top1, Top5: ev.Top5, Loss: ev.Loss}
	el.EMATop1, _ = rec["ema_top1"].(float64)
	el.EMATop5, _ = rec["ema_top5"].(float64)
	return callHook(t, "OnEval", t.hooks.OnEval, el)
}

func emaNote(rec map[string]any) string {
	if v, ok := rec["ema_top1"]; ok {
		return fmt.Sprintf(", EMA top-1 %.2f%%", v)
	}
	return ""
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
