package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// Pretrainer runs FCMAE pre-training (`train pretrain`): the [model] encoder
// with the [fcmae] decoder, trained to reconstruct masked patches of the
// training images (labels unused) with the [optim] schedule. It writes
// out_dir/last.safetensors (encoder in the model's timm naming, no head,
// decoder under proj.*, mask_token, decoder.*, pred.*), metrics.jsonl and
// config.toml. Pre-training does not resume: train.resume is an error.
type Pretrainer struct {
	cfg     Config
	be      kernels.Backend
	data    *Data
	model   *models.FCMAE
	opt     *optim.Optimizer
	sched   optim.Cosine
	log     *Logger
	lock    *fsutil.FileLock
	maskRNG *rand.Rand
	steps   int
	step    int
	x, mask kernels.Tensor
}

// PretrainResult summarises a pre-training run.
type PretrainResult struct {
	Steps   int     `json:"steps"`
	Loss    float64 `json:"loss"` // mean masked-patch loss of the last logged steps
	Seconds float64 `json:"seconds"`
}

// NewPretrainer prepares a pre-training run on be: it claims out_dir (as
// [New] does), loads the data and builds the FCMAE model and optimizer.
// Images must be whole patches of the encoder's total stride (set
// data.input_size). It returns an error for an invalid configuration,
// train.resume, or data that cannot be loaded.
func NewPretrainer(ctx context.Context, cfg Config, be kernels.Backend, log io.Writer) (*Pretrainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Train.Resume {
		return nil, errors.New("trainer: pretrain: train.resume is not supported; start a fresh run (pre-training runs are short) or use -overwrite")
	}
	if log == nil {
		log = io.Discard
	}
	lock, err := openOutDir(cfg.Train, log)
	if err != nil {
		return nil, err
	}
	p := &Pretrainer{cfg: cfg, be: be, lock: lock, maskRNG: rand.New(rand.NewPCG(cfg.Train.Seed, 3))}
	if err := p.init(ctx, log); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// init is NewPretrainer after out_dir is claimed.
func (p *Pretrainer) init(ctx context.Context, log io.Writer) error {
	cfg := p.cfg
	if cfg.Train.Overwrite {
		if err := (&Trainer{cfg: cfg}).clearOutDir(log); err != nil {
			return err
		}
	}
	data, err := LoadData(ctx, cfg.Data)
	if err != nil {
		return err
	}
	p.data = data
	mc, err := cfg.ModelConfig(data.Info.C, data.Info.NumClasses())
	if err != nil {
		return err
	}
	setting := cfg.Train.Precision
	if setting == "" && cfg.Train.Backend != "cpu" {
		setting = string(kernels.FP32) // the CUDA backend's masking and patch-loss kernels are float32 only
	}
	if _, err = SetPrecision(p.be, cfg.Train.Backend, setting); err != nil {
		return fmt.Errorf("config: train.precision = %q on backend %s: %w", setting, cfg.Train.Backend, err)
	}
	if p.model, err = models.NewFCMAE(p.be, mc, cfg.FCMAE, cfg.Train.Seed); err != nil {
		return err
	}
	if p.log, err = NewLogger(cfg.Train.OutDir, log, false); err != nil {
		return err
	}
	if p.opt, err = optim.New(p.be, p.model.Arena, cfg.Optim.Config, nil); err != nil {
		return err
	}
	perEpoch := datasets.StepsPerEpoch(data.Train.Len(), cfg.Train.BatchSize, true)
	if perEpoch == 0 {
		return fmt.Errorf("trainer: %d training images make no batch of %d", data.Train.Len(), cfg.Train.BatchSize)
	}
	p.steps = cfg.Train.Epochs * perEpoch
	if cfg.Train.MaxSteps > 0 && (cfg.Train.Epochs <= 0 || cfg.Train.MaxSteps < p.steps) {
		p.steps = cfg.Train.MaxSteps
	}
	warm := cfg.Optim.WarmupSteps
	if warm == 0 {
		warm = int(math.Round(cfg.Optim.WarmupEpochs * float64(perEpoch)))
	}
	p.sched = optim.Cosine{Base: cfg.Optim.LR, Min: cfg.Optim.MinLR, Warmup: min(warm, p.steps-1), Total: p.steps}
	return p.sched.Validate()
}

// Model returns the FCMAE model being trained.
func (p *Pretrainer) Model() *models.FCMAE { return p.model }

// Close flushes the metrics and releases out_dir.
func (p *Pretrainer) Close() error {
	var err error
	if p.log != nil {
		err = p.log.Close()
	}
	return errors.Join(err, p.lock.Unlock())
}

// Run pre-trains for the configured steps, logging the mean masked-patch
// loss every train.log_every steps and saving last.safetensors every
// train.checkpoint_every steps and at the end. Cancelling ctx (or the time
// limit) saves and returns ErrInterrupted; a non-finite loss stops with an
// error wrapping ErrNonFinite without saving over the last checkpoint.
func (p *Pretrainer) Run(ctx context.Context) (PretrainResult, error) {
	start := time.Now()
	var res PretrainResult
	if err := fsutil.WriteAtomic(filepath.Join(p.cfg.Train.OutDir, configFile), func(w io.Writer) error {
		_, err := io.WriteString(w, p.cfg.TOML())
		return err
	}); err != nil {
		return res, fmt.Errorf("trainer: %w", err)
	}
	m := p.model
	fmt.Fprintf(p.log.out, "fcmae %s: %d parameters (encoder and decoder) on %s, patch %d px, mask ratio %g, %d steps of %d images\n",
		m.Encoder.Config.Name, m.Arena.NumParams(), p.be.Name(), m.Patch, m.Config.MaskRatio, p.steps, p.cfg.Train.BatchSize)
	loader, err := datasets.NewLoader(ctx, datasets.LoaderConfig{
		Dataset: p.data.Train, Pipeline: p.data.TrainPipe, BatchSize: p.cfg.Train.BatchSize,
		Shuffle: true, DropLast: true, Seed: p.cfg.Train.Seed, Workers: p.cfg.Data.Workers, Prefetch: p.cfg.Data.Prefetch,
	})
	if err != nil {
		return res, fmt.Errorf("trainer: %w", err)
	}
	defer loader.Close()
	deadline := time.Time{}
	if d := p.cfg.Train.TimeLimit.Duration; d > 0 {
		deadline = start.Add(d)
	}
	p.log.StartProgress(p.steps, 0)
	defer p.log.StopProgress()
	m.SetTraining(true)
	lossSum, logged := 0.0, 0
	for p.step < p.steps {
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			if err := p.save(); err != nil {
				return res, err
			}
			res.Steps, res.Seconds = p.step, time.Since(start).Seconds()
			return res, ErrInterrupted
		}
		b, err := loader.Next()
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return res, fmt.Errorf("trainer: data: %w", err)
		}
		loss, err := p.stepOn(b)
		if err != nil {
			return res, fmt.Errorf("trainer: pretrain step %d: %w", p.step+1, err)
		}
		if !finite(loss) {
			return res, fmt.Errorf("trainer: pretrain step %d: loss %v: %w", p.step+1, loss, ErrNonFinite)
		}
		p.step++
		p.log.Tick()
		lossSum, logged = lossSum+loss, logged+1
		if p.step%p.cfg.Train.LogEvery == 0 || p.step == p.steps {
			res.Loss = lossSum / float64(logged)
			rec := map[string]any{"kind": "pretrain", "step": p.step, "loss": res.Loss, "lr": p.sched.At(p.step - 1),
				"img_s": p.log.Rate(logged * p.cfg.Train.BatchSize)}
			if err := p.log.Record(rec); err != nil {
				return res, err
			}
			p.log.Printf("step %d/%d  fcmae loss %.4f  lr %.2e", p.step, p.steps, res.Loss, rec["lr"])
			lossSum, logged = 0, 0
		}
		if ce := p.cfg.Train.CheckpointEvery; (ce > 0 && p.step%ce == 0) || p.step == p.steps {
			if err := p.save(); err != nil {
				return res, err
			}
		}
	}
	res.Steps, res.Seconds = p.step, time.Since(start).Seconds()
	return res, nil
}

// stepOn runs one update on batch b with a freshly drawn mask and returns
// the batch's masked-patch loss (read every step: the mask is drawn on the
// host and the loss is a few values per image).
func (p *Pretrainer) stepOn(b *datasets.Batch) (float64, error) {
	m := p.model
	if b.H%m.Patch != 0 || b.W%m.Patch != 0 {
		return 0, fmt.Errorf("%dx%d images are not whole %d-pixel patches (the encoder's total stride); set data.input_size to a multiple of %d: %w",
			b.H, b.W, m.Patch, m.Patch, kernels.ErrShape)
	}
	gh, gw := b.H/m.Patch, b.W/m.Patch
	maskV := models.RandomMask(p.maskRNG, b.N, gh*gw, m.Config.MaskRatio)
	masked := 0
	for _, v := range maskV {
		masked += int(v)
	}
	if masked == 0 {
		return 0, fmt.Errorf("mask ratio %g masks none of the %d patches of a %dx%d image", m.Config.MaskRatio, gh*gw, b.H, b.W)
	}
	x, err := uploadTo(p.be, &p.x, kernels.Shape{b.N, b.H, b.W, b.C}, b.Images)
	if err != nil {
		return 0, err
	}
	mask, err := uploadTo(p.be, &p.mask, kernels.Shape{b.N, gh, gw}, maskV)
	if err != nil {
		return 0, err
	}
	if err := m.Arena.ZeroGrad(); err != nil {
		return 0, err
	}
	pred, err := m.Forward(x, mask)
	if err != nil {
		return 0, err
	}
	if _, err := m.Loss.Forward(pred, x, mask, masked); err != nil {
		return 0, err
	}
	d, err := m.Loss.Backward()
	if err == nil {
		err = m.Backward(d)
	}
	if err == nil && p.cfg.Optim.ClipGrad > 0 {
		_, err = p.opt.ClipGradNorm()
	}
	if err == nil {
		err = p.opt.Step(p.sched.At(p.step))
	}
	if err != nil {
		return 0, err
	}
	return m.Loss.Mean(maskV)
}

// save writes out_dir/last.safetensors with the step in the metadata.
func (p *Pretrainer) save() error {
	if err := p.model.Save(filepath.Join(p.cfg.Train.OutDir, "last.safetensors"), models.Timm,
		map[string]string{"nextconv.pretrain_step": fmt.Sprint(p.step)}); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	return nil
}

// uploadTo copies host values into *dst on be, reallocating it when the
// shape changes, and returns it.
func uploadTo(be kernels.Backend, dst *kernels.Tensor, s kernels.Shape, v []float32) (kernels.Tensor, error) {
	x, err := allocTo(be, dst, s)
	if err != nil {
		return x, err
	}
	return x, be.Upload(x, v)
}
