package qat

import (
	"errors"
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// LSQInit selects how a learned step size starts (docs/QAT.md A2).
type LSQInit uint8

const (
	// LSQInitObserver starts from the observer's qparams of the last
	// observed step, PyTorch's _LearnableFakeQuantize "static estimate"
	// phase followed by enable_param_learning().
	LSQInitObserver LSQInit = iota
	// LSQInitMeanAbs sets s = 2·mean|x|/sqrt(QMax) per channel from the
	// first batch after the observer is frozen (Esser et al. 2020, sec. 2.1).
	// That batch is read back to the host once.
	LSQInitMeanAbs
)

// QuantConfig configures one fake quantizer.
type QuantConfig struct {
	Scheme    QScheme
	Observer  ObserverKind
	Averaging float64 // c of MovingAverageObserver; 0 means DefaultAveraging
	// LSQ makes the scale (and, for an affine scheme, the zero point) a
	// learned Param once the observer is frozen: learned step size
	// quantization (Esser et al. 2020) with PyTorch's gradient scale
	// 1/sqrt(numel·QMax) and the scale floored at Scheme's eps before
	// every use. While the observer runs, the observer sets it.
	LSQ     bool
	LSQInit LSQInit
}

// WeightQuant returns the default weight quantizer: [WeightInt8] (int8
// symmetric −127..127 per output channel) with the memoryless
// [MinMaxObserver] (max |w| per channel, as TensorRT calibrates weights).
func WeightQuant() QuantConfig { return QuantConfig{Scheme: WeightInt8(), Observer: MinMaxObserver} }

// ActivationQuant returns the default activation quantizer:
// [ActivationInt8] (int8 symmetric per tensor) with PyTorch's
// [MovingAverageObserver], c = 0.01.
func ActivationQuant() QuantConfig {
	return QuantConfig{Scheme: ActivationInt8(), Observer: MovingAverageObserver, Averaging: DefaultAveraging}
}

// Validate returns an error describing the first invalid field.
func (c QuantConfig) Validate() error {
	if err := c.Scheme.Validate(); err != nil {
		return err
	}
	if c.Observer != MinMaxObserver && c.Observer != MovingAverageObserver {
		return fmt.Errorf("quant config: unknown observer %v", c.Observer)
	}
	if !(c.Averaging >= 0 && c.Averaging <= 1) {
		return fmt.Errorf("quant config: averaging constant %v outside [0, 1]", c.Averaging)
	}
	if c.LSQ && c.Scheme.QMax <= 0 {
		return fmt.Errorf("quant config: LSQ needs QMax > 0 for its gradient scale 1/sqrt(N·QMax), got %d", c.Scheme.QMax)
	}
	if c.LSQInit != LSQInitObserver && c.LSQInit != LSQInitMeanAbs {
		return fmt.Errorf("quant config: unknown LSQ init %d", c.LSQInit)
	}
	return nil
}

// FakeQuant is a fake quantizer (PyTorch's FakeQuantize /
// _LearnableFakeQuantize): y = fake_quant(x) with the scale and zero point
// its observer derives through [QParams] (or, for LSQ once the observer is
// frozen, learned ones), and the straight-through gradient dx = dy·mask
// (kernels.QuantOps). It is a [layers.Layer] that keeps x's shape, so it can stand
// before any layer as an activation quantizer; [Quantized] also uses one on
// a weight.
//
// Each Forward in training mode with the observer enabled reduces x to its
// per-channel min/max on the backend, reads the 2·C values back (a sync
// point: one per observing quantizer per step, none once frozen), folds
// them into the [Observer], and uploads the new qparams, which the same
// Forward uses (PyTorch's order). In evaluation mode the observer pauses
// unless calibrating ([FakeQuant.SetCalibration]), so evaluation never moves
// ranges. With fake quant disabled the layer is the identity (observing
// still happens when enabled).
//
// Errors: a NaN or infinite statistic (kernels.ErrNaN, naming the layer
// and channel; the range is left as it was), fake quant before any range
// was observed or loaded, and inputs whose channel axis does not match
// (kernels.ErrShape).
type FakeQuant struct {
	name     string
	be       kernels.Backend
	cfg      QuantConfig
	channels int
	// Observer is the quantizer's range; read it, do not resize it.
	Observer *Observer

	qp        kernels.Tensor // [2, C]: scale, then zero point (not LSQ)
	scale, zp kernels.Tensor // views of qp, or (LSQ) zp is zeros for symmetric schemes
	// Scale and ZeroPoint are the learned qparams of an LSQ quantizer
	// ([C] each; ZeroPoint nil for symmetric schemes); nil otherwise.
	Scale, ZeroPoint *layers.Param
	stats            kernels.Tensor // [2, C] MinMax output
	hostScale        []float32      // qparams last computed on the host (not LSQ)
	hostZero         []int32
	ready            bool // qparams exist: observed, loaded, or (LSQ) learned

	observe, quantize   bool
	learning            bool // LSQ: the observer is frozen and the scale learns
	initPending         bool // LSQInitMeanAbs waits for a batch
	training, calibrate bool
	steps, freezeAt     int

	x         kernels.Tensor
	s         kernels.QuantShape
	forwarded bool
	active    bool // the last Forward fake-quantized (else it was the identity)
	out, dx   layers.Buffer
}

// NewFakeQuant returns a fake quantizer named name (e.g.
// "stages.0.blocks.0.mlp.fc1.input_fake_quant") for tensors with channels
// entries along cfg.Scheme.Axis (ignored, and taken as 1, per tensor). It
// starts in training mode with observer and fake quant enabled. An LSQ
// quantizer's Scale (and affine ZeroPoint) Params start at 1 (0) and are
// returned by Params from the start, so an optimizer built over the model
// sees them; until the observer is frozen they receive no gradient and the
// observer overwrites them.
func NewFakeQuant(be kernels.Backend, name string, cfg QuantConfig, channels int) (*FakeQuant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s (FakeQuant): %w", name, err)
	}
	if !cfg.Scheme.PerChannel {
		channels = 1
	}
	obs, err := NewObserver(cfg.Observer, cfg.Averaging, channels)
	if err != nil {
		return nil, fmt.Errorf("layer %s (FakeQuant): %w", name, err)
	}
	f := &FakeQuant{name: name, be: be, cfg: cfg, channels: channels, Observer: obs,
		observe: true, quantize: true, training: true}
	c := kernels.Shape{channels}
	if f.stats, err = be.Alloc(kernels.Shape{2, channels}); err != nil {
		return nil, err
	}
	if cfg.LSQ {
		if f.Scale, err = layers.NewParam(be, layers.Join(name, "scale"), c, false); err != nil {
			return nil, err
		}
		if err := layers.Fill(be, f.Scale, 1); err != nil {
			return nil, err
		}
		if !cfg.Scheme.Symmetric {
			if f.ZeroPoint, err = layers.NewParam(be, layers.Join(name, "zero_point"), c, false); err != nil {
				return nil, err
			}
		} else if f.zp, err = be.Alloc(c); err != nil {
			return nil, err
		}
		return f, nil
	}
	if f.qp, err = be.Alloc(kernels.Shape{2, channels}); err != nil {
		return nil, err
	}
	f.scale, _ = f.qp.View(0, c)
	f.zp, _ = f.qp.View(channels, c)
	return f, nil
}

// Name returns the layer's dotted path.
func (f *FakeQuant) Name() string { return f.name }

// Config returns the quantizer's configuration.
func (f *FakeQuant) Config() QuantConfig { return f.cfg }

// Channels returns the number of (scale, zero point) pairs.
func (f *FakeQuant) Channels() int { return f.channels }

// Params returns an LSQ quantizer's Scale and (affine) ZeroPoint, nil
// otherwise. Neither takes weight decay.
func (f *FakeQuant) Params() []*layers.Param { return layers.ParamList(f.Scale, f.ZeroPoint) }

// SetTraining switches training mode; in evaluation mode the observer
// pauses unless SetCalibration(true).
func (f *FakeQuant) SetTraining(on bool) { f.training = on }

// SetCalibration lets the observer run in evaluation mode too, for
// post-training calibration over a few batches with drop path off.
func (f *FakeQuant) SetCalibration(on bool) { f.calibrate = on }

// SetObserver enables or disables range observation. Disabling it freezes
// the qparams; for an LSQ quantizer it starts learning the scale
// (re-enabling returns to observer-driven qparams).
func (f *FakeQuant) SetObserver(on bool) {
	f.observe = on
	if f.cfg.LSQ {
		if !on && !f.learning {
			f.initPending = f.cfg.LSQInit == LSQInitMeanAbs
			f.ready = f.ready || f.initPending
		}
		f.learning = !on
	}
}

// FreezeObserver is SetObserver(false): PyTorch's disable_observer, which
// the torchvision recipe applies after a few epochs.
func (f *FakeQuant) FreezeObserver() { f.SetObserver(false) }

// FreezeObserverAfter makes the quantizer freeze its observer by itself
// once it has observed n batches in total (0 cancels).
func (f *FakeQuant) FreezeObserverAfter(n int) {
	f.freezeAt = n
	if n > 0 && f.steps >= n {
		f.FreezeObserver()
	}
}

// ObserverEnabled reports whether the observer is enabled.
func (f *FakeQuant) ObserverEnabled() bool { return f.observe }

// Learning reports whether an LSQ quantizer's scale is being learned.
func (f *FakeQuant) Learning() bool { return f.learning }

// SetFakeQuant enables or disables fake quantization (disabled: identity).
func (f *FakeQuant) SetFakeQuant(on bool) { f.quantize = on }

// FakeQuantEnabled reports whether fake quantization is enabled.
func (f *FakeQuant) FakeQuantEnabled() bool { return f.quantize }

// Steps returns the number of batches the observer has folded in.
func (f *FakeQuant) Steps() int { return f.steps }

// quantShape returns the QuantShape of a tensor of shape xs under the
// scheme, checking the channel axis.
func (f *FakeQuant) quantShape(xs kernels.Shape) (kernels.QuantShape, error) {
	sch := f.cfg.Scheme
	axis := -1
	if sch.PerChannel {
		axis = sch.Axis
		if axis >= len(xs) || xs[axis] != f.channels {
			return kernels.QuantShape{}, layers.ShapeError(f.name, "FakeQuant", "forward", xs,
				fmt.Sprintf("%d channels along axis %d", f.channels, axis))
		}
	}
	s, err := kernels.QuantAxis(xs, axis, sch.QMin, sch.QMax)
	if err != nil {
		return s, layers.LayerError(f.name, "FakeQuant", "forward", err)
	}
	if f.cfg.LSQ {
		s.MinScale = float64(sch.eps())
	}
	return s, nil
}

// Forward observes x (training mode, observer enabled) and returns its fake
// quantization, or x itself when fake quant is disabled.
func (f *FakeQuant) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer layers.PopRange(layers.PushRange(f.be, f.name))
	f.forwarded, f.active = false, false
	observe := f.observe && (f.training || f.calibrate)
	if !observe && !f.quantize && !f.initPending {
		f.forwarded = true
		return x, nil
	}
	s, err := f.quantShape(x.Shape)
	if err != nil {
		return kernels.Tensor{}, err
	}
	if observe {
		if err := f.observeBatch(x, s); err != nil {
			return kernels.Tensor{}, err
		}
	}
	if f.initPending {
		if err := f.initMeanAbs(x, s); err != nil {
			return kernels.Tensor{}, err
		}
	}
	f.forwarded = true
	if !f.quantize {
		return x, nil
	}
	if !f.ready {
		return kernels.Tensor{}, layers.LayerError(f.name, "FakeQuant", "forward", ErrNoRange)
	}
	y, err := f.out.Get(f.be, x.Shape)
	if err == nil {
		err = f.be.FakeQuant(y, x, f.scaleT(), f.zeroT(), s)
	}
	if err != nil {
		return kernels.Tensor{}, layers.LayerError(f.name, "FakeQuant", "forward", err)
	}
	f.x, f.s, f.active = x, s, true
	return y, nil
}

// Backward returns dx = dy·mask (the identity if the last Forward did not
// fake-quantize; the nil tensor for a nil dy) and, for a learning LSQ
// quantizer, accumulates the scale and zero-point gradients.
func (f *FakeQuant) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer layers.PopRange(layers.PushRange(f.be, layers.BackwardName(f.name)))
	if !f.forwarded {
		return kernels.Tensor{}, layers.LayerError(f.name, "FakeQuant", "backward", layers.ErrNoForward)
	}
	if !f.active || dy.Nil() {
		return dy, nil
	}
	if !dy.Shape.Equal(f.x.Shape) {
		return kernels.Tensor{}, layers.ShapeError(f.name, "FakeQuant", "backward", dy.Shape, f.x.Shape.String())
	}
	dx, err := f.dx.Get(f.be, f.x.Shape)
	if err != nil {
		return kernels.Tensor{}, layers.LayerError(f.name, "FakeQuant", "backward", err)
	}
	var ds, dz kernels.Tensor
	g := 1.0
	if f.learning {
		ds, dz = layers.GradOf(f.Scale), layers.GradOf(f.ZeroPoint)
		g = 1 / math.Sqrt(float64(f.x.Len())*float64(f.cfg.Scheme.QMax))
	}
	if err := f.be.FakeQuantBackward(dx, ds, dz, dy, f.x, f.scaleT(), f.zeroT(), f.s, g); err != nil {
		return kernels.Tensor{}, layers.LayerError(f.name, "FakeQuant", "backward", err)
	}
	return dx, nil
}

// ErrNoRange is wrapped by the error of a FakeQuant asked to fake-quantize
// before its observer has seen a batch and before any state was loaded.
var ErrNoRange = errors.New("fake quant enabled before any range was observed or loaded")

// scaleT and zeroT return the tensors the kernels read.
func (f *FakeQuant) scaleT() kernels.Tensor {
	if f.Scale != nil {
		return f.Scale.Value
	}
	return f.scale
}

func (f *FakeQuant) zeroT() kernels.Tensor {
	if f.ZeroPoint != nil {
		return f.ZeroPoint.Value
	}
	return f.zp
}

// observeBatch reduces x to per-channel min/max, folds them into the
// observer and installs the resulting qparams.
func (f *FakeQuant) observeBatch(x kernels.Tensor, s kernels.QuantShape) error {
	C := f.channels
	mn, _ := f.stats.View(0, kernels.Shape{C})
	mx, _ := f.stats.View(C, kernels.Shape{C})
	if err := f.be.MinMax(mn, mx, x, s); err != nil {
		return layers.LayerError(f.name, "FakeQuant", "observer", err)
	}
	st := make([]float32, 2*C)
	if err := f.be.Download(st, f.stats); err != nil {
		return layers.LayerError(f.name, "FakeQuant", "observer", err)
	}
	if err := f.Observer.Update(st[:C], st[C:]); err != nil {
		return layers.LayerError(f.name, "FakeQuant", "observer", err)
	}
	scale, zp, err := ChannelQParams(f.Observer.Min, f.Observer.Max, f.cfg.Scheme)
	if err == nil {
		err = f.install(scale, zp)
	}
	if err != nil {
		return layers.LayerError(f.name, "FakeQuant", "observer", err)
	}
	f.steps++
	if f.freezeAt > 0 && f.steps >= f.freezeAt {
		f.FreezeObserver()
	}
	return nil
}

// install uploads qparams to the tensors the kernels read and records them.
func (f *FakeQuant) install(scale []float32, zp []int32) error {
	C := f.channels
	z := make([]float32, C)
	for c, v := range zp {
		z[c] = float32(v)
	}
	if f.cfg.LSQ {
		if err := f.be.Upload(f.Scale.Value, scale); err != nil {
			return err
		}
		if f.ZeroPoint != nil {
			if err := f.be.Upload(f.ZeroPoint.Value, z); err != nil {
				return err
			}
		}
	} else {
		if err := f.be.Upload(f.qp, append(append(make([]float32, 0, 2*C), scale...), z...)); err != nil {
			return err
		}
		f.hostScale, f.hostZero = append(f.hostScale[:0], scale...), append(f.hostZero[:0], zp...)
	}
	f.ready = true
	return nil
}

// initMeanAbs sets an LSQ scale to 2·mean|x|/sqrt(QMax) per channel.
func (f *FakeQuant) initMeanAbs(x kernels.Tensor, s kernels.QuantShape) error {
	v := make([]float32, x.Len())
	if err := f.be.Download(v, x); err != nil {
		return layers.LayerError(f.name, "FakeQuant", "LSQ init", err)
	}
	sum := make([]float64, s.Channels)
	for i, e := range v {
		sum[(i/s.Inner)%s.Channels] += math.Abs(float64(e))
	}
	scale := make([]float32, s.Channels)
	n := float64(s.Outer * s.Inner)
	for c := range scale {
		m := 2 * sum[c] / n / math.Sqrt(float64(f.cfg.Scheme.QMax))
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return layers.LayerError(f.name, "FakeQuant", "LSQ init", fmt.Errorf("channel %d: mean |x| is not finite: %w", c, kernels.ErrNaN))
		}
		scale[c] = float32(math.Max(m, float64(f.cfg.Scheme.eps())))
	}
	if err := f.be.Upload(f.Scale.Value, scale); err != nil {
		return layers.LayerError(f.name, "FakeQuant", "LSQ init", err)
	}
	f.initPending, f.ready = false, true
	return nil
}

// QParams returns the scale and integer zero point per channel that the
// quantizer's Forward applies now, read from the device for an LSQ
// quantizer (with the eps floor and the zero-point rounding the kernel
// applies): what an exporter writes into QuantizeLinear/DequantizeLinear.
// It returns ErrNoRange before any range exists and an error wrapping
// kernels.ErrNaN for a learned scale that is NaN or infinite.
func (f *FakeQuant) QParams() (scale []float32, zeroPoint []int32, err error) {
	if !f.ready || f.initPending {
		return nil, nil, fmt.Errorf("layer %s (FakeQuant): %w", f.name, ErrNoRange)
	}
	if !f.cfg.LSQ {
		return append([]float32(nil), f.hostScale...), append([]int32(nil), f.hostZero...), nil
	}
	C := f.channels
	scale = make([]float32, C)
	z := make([]float32, C)
	if err := f.be.Download(scale, f.Scale.Value); err != nil {
		return nil, nil, err
	}
	if err := f.be.Download(z, f.zeroT()); err != nil {
		return nil, nil, err
	}
	eps := f.cfg.Scheme.eps()
	zeroPoint = make([]int32, C)
	for c := range scale {
		if !finite32(scale[c]) || !finite32(z[c]) {
			return nil, nil, fmt.Errorf("layer %s (FakeQuant): learned channel %d has scale %v, zero point %v: %w", f.name, c, scale[c], z[c], kernels.ErrNaN)
		}
		if scale[c] < eps {
			scale[c] = eps
		}
		zeroPoint[c] = int32(math.Min(math.Max(math.RoundToEven(float64(z[c])), float64(f.cfg.Scheme.QMin)), float64(f.cfg.Scheme.QMax)))
	}
	return scale, zeroPoint, nil
}

// Quantize returns the integers clamp(nearbyint(x·(1/s)) + z, QMin, QMax)
// of host values x of shape xs under the quantizer's current [QParams],
// with the backends' float32 arithmetic, so that (q − z)·s is exactly what
// Forward outputs: the int8 weights an exporter writes, or the integer
// activations of an integer-arithmetic evaluation. A NaN x is an error
// wrapping kernels.ErrNaN; errors as for QParams, and kernels.ErrShape for
// a shape whose channel axis does not match.
func (f *FakeQuant) Quantize(x []float32, xs kernels.Shape) ([]int32, error) {
	s, err := f.quantShape(xs)
	if err != nil {
		return nil, err
	}
	if len(x) != s.Len() {
		return nil, fmt.Errorf("layer %s (FakeQuant): %d values for shape %v: %w", f.name, len(x), xs, kernels.ErrShape)
	}
	scale, zp, err := f.QParams()
	if err != nil {
		return nil, err
	}
	q := make([]int32, len(x))
	lo, hi := float64(s.QMin), float64(s.QMax)
	for i, v := range x {
		c := (i / s.Inner) % s.Channels
		r := math.RoundToEven(float64(v*(1/scale[c]))) + float64(zp[c])
		if math.IsNaN(r) {
			return nil, fmt.Errorf("layer %s (FakeQuant): value %d is NaN: %w", f.name, i, kernels.ErrNaN)
		}
		q[i] = int32(math.Min(math.Max(r, lo), hi))
	}
	return q, nil
}

// String describes the quantizer for logs.
func (f *FakeQuant) String() string {
	mode := "observing"
	switch {
	case f.learning:
		mode = "learning (LSQ)"
	case !f.observe:
		mode = "frozen"
	}
	if !f.quantize {
		mode += ", fake quant off"
	}
	return fmt.Sprintf("%s: %v, %v observer, %s, %d steps", f.name, f.cfg.Scheme, f.cfg.Observer, mode, f.steps)
}

// Describe implements layers.Describer: the output has the input's shape
// and is held for the backward (the straight-through mask reads it).
func (f *FakeQuant) Describe(in kernels.Shape) (layers.Info, error) {
	return layers.Info{Kind: "FakeQuant", Out: in.Clone(), Saved: int64(in.Len())}, nil
}
