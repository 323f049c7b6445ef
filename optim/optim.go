// Package optim updates a model's parameter arena: AdamW and SGD with
// per-parameter-group learning-rate scales and weight decay, gradient
// clipping by global norm, the cosine schedule with linear warmup, and an
// exponential moving average (EMA) of the weights.
//
// Every update is one fused backend op over the whole arena
// ([kernels.OptimOps]), with contiguous runs of parameters sharing a
// learning-rate scale and weight decay merged into one group.
package optim

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// Config selects and parameterises the optimizer. The zero value is not
// valid; start from [DefaultConfig].
type Config struct {
	Name        string  `toml:"name" json:"name"`                 // "adamw" or "sgd"
	WeightDecay float64 `toml:"weight_decay" json:"weight_decay"` // decoupled (AdamW) or L2 (SGD); only params with Decay set
	Beta1       float64 `toml:"beta1" json:"beta1"`               // AdamW β1
	Beta2       float64 `toml:"beta2" json:"beta2"`               // AdamW β2
	Eps         float64 `toml:"eps" json:"eps"`                   // AdamW ε
	Momentum    float64 `toml:"momentum" json:"momentum"`         // SGD momentum
	Nesterov    bool    `toml:"nesterov" json:"nesterov"`         // SGD Nesterov momentum
	ClipGrad    float64 `toml:"clip_grad" json:"clip_grad"`       // max global gradient norm; 0 disables clipping
}

// DefaultConfig returns AdamW with PyTorch's β = (0.9, 0.999), ε = 1e-8 and
// ConvNeXt's weight decay 0.05 (V1 recipe and V2 tiny+ fine-tuning), no
// clipping; SGD fields hold torchvision's momentum 0.9.
func DefaultConfig() Config {
	return Config{Name: "adamw", WeightDecay: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Momentum: 0.9}
}

// Validate returns an error naming the first invalid field.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Name != "adamw" && c.Name != "sgd":
		return fmt.Errorf("optim.name %q: want adamw or sgd", c.Name)
	case !finite(c.WeightDecay) || c.WeightDecay < 0:
		return fmt.Errorf("optim.weight_decay %v must be finite and >= 0", c.WeightDecay)
	case c.Name == "adamw" && !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("optim.beta1 %v must lie in [0, 1)", c.Beta1)
	case c.Name == "adamw" && !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optim.beta2 %v must lie in [0, 1)", c.Beta2)
	case c.Name == "adamw" && !(c.Eps > 0 && finite(c.Eps)):
		return fmt.Errorf("optim.eps %v must be finite and positive", c.Eps)
	case c.Name == "sgd" && !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("optim.momentum %v must lie in [0, 1)", c.Momentum)
	case c.Name == "sgd" && c.Nesterov && c.Momentum == 0:
		return fmt.Errorf("optim.nesterov needs optim.momentum > 0")
	case !finite(c.ClipGrad) || c.ClipGrad < 0:
		return fmt.Errorf("optim.clip_grad %v must be finite and >= 0", c.ClipGrad)
	}
	return nil
}

// Optimizer updates an arena in place. It is not safe for concurrent use.
type Optimizer struct {
	cfg    Config
	be     kernels.Backend
	arena  *layers.Arena
	m, v   kernels.Tensor // AdamW moments; SGD keeps its momentum buffer in m
	groups []kernels.AdamWGroup
	scales []float64            // learning-rate scale of each group
	step   int                  // updates applied so far
	at     []kernels.AdamWGroup // groups at the current learning rate (reused)
}

// New returns an optimizer over arena. lrScale gives each parameter's
// learning-rate multiplier by name (layer-wise decay; nil means 1 for all).
// Weight decay applies to parameters whose Decay flag is set (conv and
// linear weights), as ConvNeXt V2's get_parameter_groups and timm exclude
// biases, norms, GRN and layer scales.
func New(be kernels.Backend, arena *layers.Arena, cfg Config, lrScale func(name string) float64) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Optimizer{cfg: cfg, be: be, arena: arena}
	for i, p := range arena.Params {
		scale := 1.0
		if lrScale != nil {
			scale = lrScale(p.Name)
		}
		if !(scale >= 0) || math.IsInf(scale, 0) {
			return nil, fmt.Errorf("optim: learning-rate scale %v for %s", scale, p.Name)
		}
		wd := 0.0
		if p.Decay {
			wd = cfg.WeightDecay
		}
		off, n := arena.Offsets[i], p.Value.Len()
		// A group runs over the padding up to the next parameter (zero
		// weights and gradients, which AdamW and SGD leave at zero).
		if k := len(o.groups) - 1; k >= 0 && o.scales[k] == scale && o.groups[k].WeightDecay == wd && layers.AlignUp(o.groups[k].Offset+o.groups[k].Len) == off {
			o.groups[k].Len = off + n - o.groups[k].Offset
			continue
		}
		o.groups = append(o.groups, kernels.AdamWGroup{Offset: off, Len: n, WeightDecay: wd})
		o.scales = append(o.scales, scale)
	}
	var err error
	if cfg.Name == "adamw" || cfg.Momentum != 0 {
		if o.m, err = be.Alloc(kernels.Shape{arena.Len()}); err != nil {
			return nil, fmt.Errorf("optim: moments: %w", err)
		}
	}
	if cfg.Name == "adamw" {
		if o.v, err = be.Alloc(kernels.Shape{arena.Len()}); err != nil {
			return nil, fmt.Errorf("optim: moments: %w", err)
		}
	}
	return o, nil
}

// Groups returns the merged parameter groups with the learning rates the
// next Step(lr) would use.
func (o *Optimizer) Groups(lr float64) []kernels.AdamWGroup {
	gs := make([]kernels.AdamWGroup, len(o.groups))
	for i, g := range o.groups {
		g.LR = lr * o.scales[i]
		gs[i] = g
	}
	return gs
}

// Steps returns the number of updates applied.
func (o *Optimizer) Steps() int { return o.step }

// groupsAt returns the groups at base learning rate lr in a reused slice.
func (o *Optimizer) groupsAt(lr float64) ([]kernels.AdamWGroup, error) {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("optim: learning rate %v", lr)
	}
	o.at = append(o.at[:0], o.groups...)
	for i := range o.at {
		o.at[i].LR = lr * o.scales[i]
	}
	return o.at, nil
}

func (o *Optimizer) adamw() kernels.AdamWHyper {
	return kernels.AdamWHyper{Beta1: o.cfg.Beta1, Beta2: o.cfg.Beta2, Eps: o.cfg.Eps, Step: o.step + 1}
}

func (o *Optimizer) sgd() kernels.SGDHyper {
	return kernels.SGDHyper{Momentum: o.cfg.Momentum, Nesterov: o.cfg.Nesterov, First: o.step == 0}
}

// Prepare uploads what the next Step(lr) reads from device memory on a
// backend that keeps its per-step values there (kernels.OptimPreparer,
// the CUDA backend), so that a Step captured in a CUDA graph replays with
// this step's learning rate and bias corrections; on other backends it
// only checks lr. Call it before capturing a step and before each replay,
// and Replayed after each replay.
func (o *Optimizer) Prepare(lr float64) error {
	groups, err := o.groupsAt(lr)
	if err != nil {
		return err
	}
	p, ok := o.be.(kernels.OptimPreparer)
	if !ok {
		return nil
	}
	if o.cfg.Name == "adamw" {
		err = p.PrepareAdamW(o.arena.Len(), groups, o.adamw())
	} else {
		err = p.PrepareSGD(o.arena.Len(), groups, o.sgd())
	}
	if err != nil {
		return fmt.Errorf("optim: %s step %d: %w", o.cfg.Name, o.step+1, err)
	}
	return nil
}

// Replayed counts an update applied by replaying a captured Step (after
// Prepare), which the host did not run.
func (o *Optimizer) Replayed() { o.step++ }

// Step applies one update with base learning rate lr (each group uses lr
// times its scale), using the gradients in the arena. In bf16 precision it
// refreshes the arena's bf16 weight copy as well (AdamW in the same pass,
// kernels.OptimOps.AdamWBF16).
func (o *Optimizer) Step(lr float64) error {
	groups, err := o.groupsAt(lr)
	if err != nil {
		return err
	}
	a := o.arena
	switch {
	case o.cfg.Name == "adamw" && !a.Low.Nil():
		err = o.be.AdamWBF16(a.Values, a.Grads, o.m, o.v, a.Low, groups, o.adamw())
	case o.cfg.Name == "adamw":
		err = o.be.AdamW(a.Values, a.Grads, o.m, o.v, groups, o.adamw())
	default:
		if err = o.be.SGD(a.Values, a.Grads, o.m, groups, o.sgd()); err == nil {
			err = a.SyncLow() // SGD has no fused bf16 variant: a second pass
		}
	}
	if err != nil {
		return fmt.Errorf("optim: %s step %d: %w", o.cfg.Name, o.step+1, err)
	}
	o.step++
	return nil
}

// ClipGradNorm computes the global L2 norm of all gradients and, if it
// exceeds the configured clip_grad, scales them by clip_grad/(norm + 1e-6)
// (torch.nn.utils.clip_grad_norm_). It returns the norm before clipping; with
// clipping off it only measures. The norm is a sync point on device backends.
func (o *Optimizer) ClipGradNorm() (float64, error) {
	ss, err := o.be.SumSquares(o.arena.Grads)
	if err != nil {
		return 0, fmt.Errorf("optim: gradient norm: %w", err)
	}
	norm := math.Sqrt(ss)
	if o.cfg.ClipGrad > 0 {
		if coef := o.cfg.ClipGrad / (norm + 1e-6); coef < 1 {
			if err := o.be.Scale(o.arena.Grads, o.arena.Grads, coef); err != nil {
				return 0, fmt.Errorf("optim: clip: %w", err)
			}
		}
	}
	return norm, nil
}

// State returns the optimizer's buffers for a checkpoint: the step count and
// the named moment tensors ("m" and, for AdamW, "v"), arena-shaped.
func (o *Optimizer) State() (step int, buffers map[string]kernels.Tensor) {
	buffers = map[string]kernels.Tensor{}
	if !o.m.Nil() {
		buffers["m"] = o.m
	}
	if !o.v.Nil() {
		buffers["v"] = o.v
	}
	return o.step, buffers
}

// SetStep sets the number of updates already applied (when resuming).
func (o *Optimizer) SetStep(step int) { o.step = step }
