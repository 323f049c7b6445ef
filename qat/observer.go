package qat

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// ObserverKind selects how a quantizer tracks the range of the tensors it
// sees (docs/QAT.md A1.3, A6).
type ObserverKind uint8

const (
	// MinMaxObserver is memoryless: the range is the current tensor's
	// per-channel minimum and maximum. With a symmetric scheme this is the
	// per-channel max |w| that TensorRT and NVIDIA's toolkit calibrate
	// weights with; weights change every step, so no history is kept.
	MinMaxObserver ObserverKind = iota + 1
	// MovingAverageObserver is PyTorch's MovingAverage(PerChannel)MinMax
	// observer: the first batch sets the range, later batches move it by
	// min += c·(batch_min − min), max += c·(batch_max − max), in float32.
	// For activations, whose range changes from batch to batch.
	MovingAverageObserver
)

// DefaultAveraging is PyTorch's averaging constant c = 0.01.
const DefaultAveraging = 0.01

// String returns "minmax" or "ema".
func (k ObserverKind) String() string {
	switch k {
	case MinMaxObserver:
		return "minmax"
	case MovingAverageObserver:
		return "ema"
	}
	return fmt.Sprintf("ObserverKind(%d)", uint8(k))
}

// Observer is the host-side range of one quantizer: one [Min, Max] per
// channel (one for per-tensor schemes). Its statistics come from the
// backend's MinMax op; the fold below is a handful of float32 operations
// per channel.
type Observer struct {
	Kind      ObserverKind
	Averaging float32   // c of MovingAverageObserver
	Min, Max  []float32 // the range; meaningful once Observed
	Observed  bool      // at least one batch has been folded in (or a range loaded)
}

// NewObserver returns an empty observer of kind over channels ranges.
// averaging is MovingAverageObserver's c (0 means DefaultAveraging); it
// must lie in (0, 1].
func NewObserver(kind ObserverKind, averaging float64, channels int) (*Observer, error) {
	if averaging == 0 {
		averaging = DefaultAveraging
	}
	switch {
	case kind != MinMaxObserver && kind != MovingAverageObserver:
		return nil, fmt.Errorf("observer: unknown kind %v", kind)
	case !(averaging > 0 && averaging <= 1):
		return nil, fmt.Errorf("observer: averaging constant %v outside (0, 1]", averaging)
	case channels <= 0:
		return nil, fmt.Errorf("observer: %d channels: %w", channels, kernels.ErrShape)
	}
	return &Observer{Kind: kind, Averaging: float32(averaging), Min: make([]float32, channels), Max: make([]float32, channels)}, nil
}

// Update folds one batch's per-channel minima and maxima in. It returns an
// error wrapping kernels.ErrNaN, and leaves the range unchanged, if a
// statistic is NaN or infinite (a diverged activation or weight), and an
// error wrapping kernels.ErrShape for a count other than the observer's.
func (o *Observer) Update(min, max []float32) error {
	if len(min) != len(o.Min) || len(max) != len(o.Max) {
		return fmt.Errorf("observer: %d/%d statistics for %d channels: %w", len(min), len(max), len(o.Min), kernels.ErrShape)
	}
	for c := range min {
		if !finite32(min[c]) || !finite32(max[c]) {
			return fmt.Errorf("observer: channel %d saw range [%v, %v]: %w", c, min[c], max[c], kernels.ErrNaN)
		}
	}
	if o.Kind == MinMaxObserver || !o.Observed {
		copy(o.Min, min)
		copy(o.Max, max)
		o.Observed = true
		return nil
	}
	c := o.Averaging
	for i := range min {
		// PyTorch: min_val + c·(min_val_cur − min_val), each step rounded
		// to float32 (the conversions keep Go from fusing a multiply-add).
		o.Min[i] += float32(c * float32(min[i]-o.Min[i]))
		o.Max[i] += float32(c * float32(max[i]-o.Max[i]))
	}
	return nil
}

// Reset forgets the range.
func (o *Observer) Reset() {
	clear(o.Min)
	clear(o.Max)
	o.Observed = false
}
