package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// BenchResult is the training throughput of one model configuration.
type BenchResult struct {
	Model      string  `json:"model"`
	Backend    string  `json:"backend"`
	Batch      int     `json:"batch"`
	Size       int     `json:"size"`
	Steps      int     `json:"steps"`
	StepMs     float64 `json:"step_ms"`     // mean wall time of one training step
	ImgPerSec  float64 `json:"img_per_s"`   // Batch / step time
	ForwardMs  float64 `json:"forward_ms"`  // mean forward + loss time
	BackwardMs float64 `json:"backward_ms"` // mean backward + optimizer time
}

// Bench measures training steps (forward, loss, backward, AdamW) of a model
// built from mc on be with random data: warmup untimed steps, then steps
// timed ones, synchronising the backend around each phase. The step must
// fit the process's models.Limits (checked before anything is allocated);
// cancelling ctx stops between steps with ctx's error.
func Bench(ctx context.Context, be kernels.Backend, mc models.Config, batch, size, warmup, steps int) (BenchResult, error) {
	if batch <= 0 || steps <= 0 || warmup < 0 {
		return BenchResult{}, fmt.Errorf("bench: batch %d, steps %d and warmup %d must be positive", batch, steps, warmup)
	}
	if err := models.CurrentLimits().Check(mc, batch, size, size); err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	m, err := models.New(be, mc, 0)
	if err != nil {
		return BenchResult{}, err
	}
	opt, err := optim.New(be, m.Arena, optim.DefaultConfig(), nil)
	if err != nil {
		return BenchResult{}, err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	xs := make([]float32, batch*size*size*mc.InChans)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(mc.NumClasses)
	}
	tg, err := layers.SmoothedTargets(labels, mc.NumClasses, 0.1)
	if err != nil {
		return BenchResult{}, err
	}
	x, err := be.Alloc(kernels.Shape{batch, size, size, mc.InChans})
	if err != nil {
		return BenchResult{}, err
	}
	defer be.Free(x)
	tgt, err := be.Alloc(kernels.Shape{batch, mc.NumClasses})
	if err != nil {
		return BenchResult{}, err
	}
	defer be.Free(tgt)
	if err := be.Upload(x, xs); err != nil {
		return BenchResult{}, err
	}
	if err := be.Upload(tgt, tg); err != nil {
		return BenchResult{}, err
	}
	ce := layers.NewCrossEntropy(be)
	var fwd, bwd time.Duration
	for i := range warmup + steps {
		if err := ctx.Err(); err != nil {
			return BenchResult{}, err
		}
		t0 := time.Now()
		if err := m.Arena.ZeroGrad(); err != nil {
			return BenchResult{}, err
		}
		logits, err := m.Forward(x)
		if err == nil {
			_, err = ce.Forward(logits, tgt)
		}
		if err == nil {
			err = be.Sync()
		}
		if err != nil {
			return BenchResult{}, err
		}
		t1 := time.Now()
		d, err := ce.Backward()
		if err == nil {
			err = m.Backward(d)
		}
		if err == nil {
			err = opt.Step(1e-4)
		}
		if err == nil {
			err = be.Sync()
		}
		if err != nil {
			return BenchResult{}, err
		}
		if i >= warmup {
			fwd += t1.Sub(t0)
			bwd += time.Since(t1)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(steps) / 1e6 }
	r := BenchResult{Model: mc.Name, Backend: be.Name(), Batch: batch, Size: size, Steps: steps,
		ForwardMs: ms(fwd), BackwardMs: ms(bwd)}
	r.StepMs = r.ForwardMs + r.BackwardMs
	r.ImgPerSec = float64(batch) / (r.StepMs / 1e3)
	return r, nil
}

// Latency returns the median wall time in seconds of runs inference forwards
// of m (evaluation mode) on a batch of batch random images of size×size
// pixels, after warmup untimed forwards, synchronising the backend after
// each so that queued device work is counted. The forward must fit the
// process's models.Limits (checked before anything is allocated);
// cancelling ctx stops between forwards with ctx's error. m is left in
// evaluation mode.
func Latency(ctx context.Context, m *models.Model, batch, size, warmup, runs int) (float64, error) {
	if batch <= 0 || runs <= 0 || warmup < 0 {
		return 0, fmt.Errorf("latency: batch %d, runs %d and warmup %d must be positive", batch, runs, warmup)
	}
	if err := models.CurrentLimits().Check(m.Config, batch, size, size); err != nil {
		return 0, fmt.Errorf("latency: %w", err)
	}
	be := m.Backend
	rng := rand.New(rand.NewPCG(2, 2))
	xs := make([]float32, batch*size*size*m.Config.InChans)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	x, err := be.Alloc(kernels.Shape{batch, size, size, m.Config.InChans})
	if err != nil {
		return 0, err
	}
	defer be.Free(x)
	if err := be.Upload(x, xs); err != nil {
		return 0, err
	}
	m.SetTraining(false)
	times := make([]float64, 0, runs)
	for i := range warmup + runs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		_, err := m.Forward(x)
		if err == nil {
			err = be.Sync()
		}
		if err != nil {
			return 0, fmt.Errorf("latency: %w", err)
		}
		if i >= warmup {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	slices.Sort(times)
	if runs%2 == 1 {
		return times[runs/2], nil
	}
	return (times[runs/2-1] + times[runs/2]) / 2, nil
}
