package qat

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// StateTensor is one named host tensor of a layer's non-parameter state
// (PyTorch's buffers), for checkpoints: float32, row-major, Shape outermost
// first.
type StateTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// The state a FakeQuant saves under its name, PyTorch's FakeQuantize buffer
// names where they exist:
//
//	scale, zero_point          [C] current qparams (absent for LSQ: they are Params)
//	min_val, max_val           [C] observer range
//	observed                   [1] 1 once the observer has a range
//	initialized                [1] 1 once qparams exist
//	observer_enabled           [1]
//	fake_quant_enabled         [1]
//	learning                   [1] LSQ: the scale learns (observer frozen)
//	steps                      [1] batches observed (exact to 2^24)
//	freeze_after               [1] FreezeObserverAfter's count (0: none)
var fakeQuantStateNames = []string{"min_val", "max_val", "observed", "initialized", "observer_enabled",
	"fake_quant_enabled", "learning", "steps", "freeze_after"}

// State returns the quantizer's state (see the names above), for a
// checkpoint. An LSQ quantizer's learned Scale and ZeroPoint are Params and
// travel with the model's parameters instead.
func (f *FakeQuant) State() []StateTensor {
	C := f.channels
	flag := func(b bool) []float32 {
		if b {
			return []float32{1}
		}
		return []float32{0}
	}
	out := []StateTensor{}
	add := func(name string, shape []int, v []float32) {
		out = append(out, StateTensor{Name: layers.Join(f.name, name), Shape: shape, Data: v})
	}
	if !f.cfg.LSQ {
		scale, zp := make([]float32, C), make([]float32, C)
		if f.ready {
			copy(scale, f.hostScale)
			for c, z := range f.hostZero {
				zp[c] = float32(z)
			}
		}
		add("scale", []int{C}, scale)
		add("zero_point", []int{C}, zp)
	}
	add("min_val", []int{C}, slices.Clone(f.Observer.Min))
	add("max_val", []int{C}, slices.Clone(f.Observer.Max))
	add("observed", []int{1}, flag(f.Observer.Observed))
	add("initialized", []int{1}, flag(f.ready && !f.initPending))
	add("observer_enabled", []int{1}, flag(f.observe))
	add("fake_quant_enabled", []int{1}, flag(f.quantize))
	add("learning", []int{1}, flag(f.learning))
	add("steps", []int{1}, []float32{float32(f.steps)})
	add("freeze_after", []int{1}, []float32{float32(f.freezeAt)})
	return out
}

// LoadState restores the quantizer from the tensors named after it in ts
// (other names are ignored, so a whole checkpoint's list can be passed). It
// returns an error, changing nothing, if one of its tensors is missing or
// mis-shaped (kernels.ErrShape), or holds values no quantizer produces: a
// non-finite or inverted range, a scale that is not positive and finite
// (kernels.ErrNaN), a zero point off the grid or not an integer. An LSQ
// quantizer's Scale and ZeroPoint come with the model's parameters; load
// those too.
func (f *FakeQuant) LoadState(ts []StateTensor) error {
	C := f.channels
	byName := make(map[string]StateTensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	names := slices.Clone(fakeQuantStateNames)
	if !f.cfg.LSQ {
		names = append(names, "scale", "zero_point")
	}
	get := map[string][]float32{}
	var missing []string
	for _, n := range names {
		t, ok := byName[layers.Join(f.name, n)]
		if !ok {
			missing = append(missing, layers.Join(f.name, n))
			continue
		}
		want := 1
		if n == "min_val" || n == "max_val" || n == "scale" || n == "zero_point" {
			want = C
		}
		if kernels.Shape(t.Shape).Len() != want || len(t.Data) != want {
			return fmt.Errorf("layer %s (FakeQuant): state %s has shape %v, want [%d]: %w", f.name, t.Name, t.Shape, want, kernels.ErrShape)
		}
		get[n] = t.Data
	}
	if len(missing) > 0 {
		return fmt.Errorf("layer %s (FakeQuant): state lacks %s: %w", f.name, strings.Join(missing, ", "), kernels.ErrShape)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("layer %s (FakeQuant): state: "+format, append([]any{f.name}, a...)...)
	}
	observed, initialized := get["observed"][0] != 0, get["initialized"][0] != 0
	mn, mx := get["min_val"], get["max_val"]
	if observed {
		for c := range C {
			if !finite32(mn[c]) || !finite32(mx[c]) {
				return bad("range [%v, %v] of channel %d is not finite: %w", mn[c], mx[c], c, kernels.ErrNaN)
			}
			if mn[c] > mx[c] {
				return bad("range [%v, %v] of channel %d has min > max", mn[c], mx[c], c)
			}
		}
	}
	var scale []float32
	var zp []int32
	if !f.cfg.LSQ && initialized {
		scale = get["scale"]
		zp = make([]int32, C)
		for c := range C {
			if !(scale[c] > 0) || math.IsInf(float64(scale[c]), 0) {
				return bad("scale %v of channel %d must be positive and finite: %w", scale[c], c, kernels.ErrNaN)
			}
			z := get["zero_point"][c]
			if z != float32(math.Round(float64(z))) || z < float32(f.cfg.Scheme.QMin) || z > float32(f.cfg.Scheme.QMax) {
				return bad("zero point %v of channel %d is not an integer in %d..%d", z, c, f.cfg.Scheme.QMin, f.cfg.Scheme.QMax)
			}
			zp[c] = int32(z)
		}
	}
	steps, freeze := get["steps"][0], get["freeze_after"][0]
	if !(steps >= 0) || !(freeze >= 0) || steps > 1<<24 || freeze > 1<<24 {
		return bad("steps %v or freeze_after %v out of range", steps, freeze)
	}
	if scale != nil {
		if err := f.install(scale, zp); err != nil {
			return fmt.Errorf("layer %s (FakeQuant): state: %w", f.name, err)
		}
	}
	copy(f.Observer.Min, mn)
	copy(f.Observer.Max, mx)
	f.Observer.Observed = observed
	f.observe = get["observer_enabled"][0] != 0
	f.quantize = get["fake_quant_enabled"][0] != 0
	f.learning = f.cfg.LSQ && get["learning"][0] != 0
	f.initPending = f.learning && !initialized && f.cfg.LSQInit == LSQInitMeanAbs
	f.ready = initialized || f.initPending
	f.steps, f.freezeAt = int(steps), int(freeze)
	return nil
}
