package models

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Structural bounds every Config must respect (Validate checks them). They
// lie far beyond every published ConvNeXt (at most 4 stages, 27 blocks per
// stage, 2816 channels, 21,841 classes) and keep every size the analytic
// Footprint multiplies well inside int64, so a configuration read from an
// untrusted file is rejected before any arithmetic on it can overflow.
const (
	MaxStages     = 8       // stages (each halves the resolution)
	MaxDepth      = 1024    // blocks in one stage
	MaxDim        = 1 << 16 // channels of one stage
	MaxInChans    = 1 << 12 // input channels
	MaxNumClasses = 1 << 24 // classifier outputs
	MaxKernel     = 31      // depthwise kernel side
	MaxStemPatch  = 64      // stem kernel = stride
	MaxMLPRatio   = 64      // block MLP expansion
	MaxInputSize  = 1 << 15 // nominal input side in pixels
)

// Limits is the budget a model may claim, checked analytically (Footprint)
// before anything is allocated: New checks the parameters and the memory of
// one image at the config's InputSize, Model.Forward the memory of its
// actual batch. The zero value of a field means no limit.
type Limits struct {
	MaxParams int64 // parameter elements
	MaxMemory int64 // bytes of Footprint.Bytes: weights, gradients, input and held activations
}

// DefaultLimits returns the budget in force unless SetLimits changes it:
// 2^30 parameters (ConvNeXt V2-Huge has 660 M) and 32 GiB.
func DefaultLimits() Limits { return Limits{MaxParams: 1 << 30, MaxMemory: 32 << 30} }

var limits atomic.Pointer[Limits]

func init() { SetLimits(DefaultLimits()) }

// SetLimits sets the process-wide budget that New, Model.Forward and
// CheckLimits enforce (the train command sets it from -max-params and
// -max-memory) and returns the previous one.
func SetLimits(l Limits) Limits {
	prev := limits.Swap(&l)
	if prev == nil {
		return Limits{}
	}
	return *prev
}

// CurrentLimits returns the budget SetLimits last set.
func CurrentLimits() Limits { return *limits.Load() }

// Footprint is a model's analytic size for one forward and backward pass
// (no tensor is allocated to compute it).
type Footprint struct {
	Params          int64 // parameter elements
	InputBytes      int64 // the float32 input batch [N, H, W, InChans]
	ActivationBytes int64 // float32 buffers the forward pass holds for the backward (Describe's SavedBytes total)
}

// Bytes returns the pass's memory: 8 bytes per parameter (value and
// gradient, both float32), the input and the held activations. Optimizer
// state and transient workspace come on top.
func (f Footprint) Bytes() int64 {
	return satAdd(satAdd(satMul(8, f.Params), f.InputBytes), f.ActivationBytes)
}

// Footprint returns c's parameter count and the memory of a pass over n
// images of h×w pixels (NHWC float32), summed over the parts of c's Spec
// from each kind's analytic Cost, the way Describe lists them (for a
// ConvNeXt block: the depthwise conv output, LayerNorm output and
// statistics, both MLP activations and GELU's, GRN's output and per-sample
// norms, layer scale, drop path and the residual sum). It returns
// Validate's error for an invalid c and an error when the input is smaller
// than MinInput.
func (c Config) Footprint(n, h, w int) (Footprint, error) {
	if err := c.Validate(); err != nil {
		return Footprint{}, err
	}
	if min := c.MinInput(); n <= 0 || h < min || w < min {
		return Footprint{}, fmt.Errorf("models: footprint of %d images of %dx%d: need at least one image of %dx%d", n, h, w, min, min)
	}
	parts, err := c.plan()
	if err != nil {
		return Footprint{}, err
	}
	// Float64 throughout: exact below 2^53, and a value past it is over any
	// limit anyway.
	var params, act float64
	H, W := h, w
	for _, p := range parts {
		cost := p.kind.Cost(p.args, n, H, W)
		params += cost.Params
		act += cost.Saved
		H, W = cost.OutH, cost.OutW
	}
	in := float64(n) * float64(h) * float64(w) * float64(c.InChans)
	return Footprint{Params: toInt64(params), InputBytes: toInt64(4 * in), ActivationBytes: toInt64(4 * act)}, nil
}

// Check returns an error naming the exceeded budget, c's estimate and the
// flag that raises it when c's Footprint for n images of h×w pixels is
// over l, and Footprint's error for an invalid c or input.
func (l Limits) Check(c Config, n, h, w int) error {
	f, err := c.Footprint(n, h, w)
	if err != nil {
		return err
	}
	if l.MaxParams > 0 && f.Params > l.MaxParams {
		return fmt.Errorf("models: %s has %d parameters, over the limit of %d (raise it with -max-params)", c.Name, f.Params, l.MaxParams)
	}
	if b := f.Bytes(); l.MaxMemory > 0 && b > l.MaxMemory {
		return fmt.Errorf("models: %s needs about %.1f GiB for %d images of %dx%d (weights, gradients, activations), over the limit of %.1f GiB (raise it with -max-memory)",
			c.Name, float64(b)/(1<<30), n, h, w, float64(l.MaxMemory)/(1<<30))
	}
	return nil
}

// CheckLimits is CurrentLimits().Check for one image at the config's
// InputSize (or the smallest input the network accepts, if larger): the
// check New makes before it allocates anything.
func (c Config) CheckLimits() error {
	if err := c.Validate(); err != nil {
		return err
	}
	size := max(c.InputSize, c.MinInput())
	return CurrentLimits().Check(c, 1, size, size)
}

func toInt64(v float64) int64 {
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// CheckFootprint compares the analytic Footprint of m's Config for n images
// of h×w pixels (the registered kinds' Cost functions) with the built
// network: the parameter count with the arena's, the activation bytes with
// Describe's total at 4 bytes per element. It returns an error naming both
// numbers when they differ: the test every new kind's Cost should pass, so
// that the limits bound what a model really allocates.
func (m *Model) CheckFootprint(n, h, w int) error {
	f, err := m.Config.Footprint(n, h, w)
	if err != nil {
		return err
	}
	rows, err := m.Describe(n, h, w, 4)
	if err != nil {
		return err
	}
	if want := int64(m.NumParams()); f.Params != want {
		return fmt.Errorf("models: %s: Footprint counts %d parameters, the model has %d", m.Config.Name, f.Params, want)
	}
	if want := Totals(rows).SavedBytes; f.ActivationBytes != want {
		return fmt.Errorf("models: %s: Footprint counts %d activation bytes for %d×%dx%d, Describe %d", m.Config.Name, f.ActivationBytes, n, h, w, want)
	}
	return nil
}
