package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// Model is a network built from a [Spec] (Config.Spec) on one backend:
//
//	x [N, H, W, InChans] → Stem → for each stage: [Downsample] then blocks
//	  → Head → logits [N, NumClasses]
//
// For ConvNeXt the stem is Conv2D k=s=StemPatch then LayerNorm, each stage
// after the first starts with LayerNorm and a 2×2 stride-2 Conv2D, and the
// head is global average pool, LayerNorm, Linear. Parameters are packed
// into one [layers.Arena] (Arena). Parameter names and order are timm's
// state dict: stem.*, stages.i.downsample.*, stages.i.blocks.j.*, head.*.
type Model struct {
	Config   Config
	Backend  kernels.Backend
	Stem     layers.Layer
	Stages   []*Stage
	HeadNet  layers.Layer          // the whole head, ending in Head
	Pool     *layers.GlobalAvgPool // the head's pool, nil if it has none
	HeadNorm *layers.LayerNorm     // the head's LayerNorm, nil if it has none
	Head     *layers.Linear        // the classifier, the head's last Linear
	Net      *layers.Sequential    // the whole network in execution order
	Arena    *layers.Arena
	// DropRNG is the Philox generator every drop path draws its masks
	// from, on the device where the backend can; a training checkpoint
	// saves its (seed, counter) state.
	DropRNG *philox.Generator
	// parts lists every part with its place, as the builder placed it.
	parts    []placed
	minInput int // Config.MinInput, computed once
	// checked is the last input shape and budget Forward found within
	// Limits, so that a training loop checks once.
	checked struct {
		shape  kernels.Shape
		limits Limits
	}
}

// Stage is one resolution of the network: an optional downsampling layer
// (ConvNeXt: LayerNorm then a 2×2 stride-2 Conv2D) followed by blocks.
type Stage struct {
	Downsample layers.Layer // nil when the stage has none (ConvNeXt's stage 0)
	Blocks     []layers.Layer
}

// New builds the model described by cfg on be. Weights are drawn from the
// published init (truncated normal std 0.02 for every conv and linear, zero
// biases, LayerNorm 1/0, GRN 0/0, head scaled by HeadInitScale) with a
// generator seeded by seed; drop path masks come from the Philox stream
// philox.Derive(seed, philox.StreamDropPath). It returns an error if cfg is
// invalid (a *SpecError naming the stage, block and field for a bad spec)
// or over the process's Limits (checked analytically before anything is
// allocated).
func New(be kernels.Backend, cfg Config, seed uint64) (*Model, error) {
	return build(be, cfg, seed, rand.New(rand.NewPCG(seed, 1)))
}

// build is New with the weight generator given; nil leaves weights at zero
// (tests that only count use it).
func build(be kernels.Backend, cfg Config, seed uint64, init *rand.Rand) (*Model, error) {
	m, err := buildLayers(be, cfg, seed, init)
	if err != nil {
		return nil, err
	}
	if m.Arena, err = layers.NewArena(be, m.Net.Params()); err != nil {
		return nil, err
	}
	return m, nil
}

// buildLayers is build without packing the parameters into an arena, for
// owners that pack them with others (FCMAE's decoder).
func buildLayers(be kernels.Backend, cfg Config, seed uint64, init *rand.Rand) (*Model, error) {
	cfg = cfg.Resolved()
	if err := cfg.CheckLimits(); err != nil {
		return nil, err
	}
	parts, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Backend: be, DropRNG: philox.New(philox.Derive(seed, philox.StreamDropPath)), minInput: cfg.MinInput()}
	var net []layers.Layer
	for _, p := range parts {
		a := p.args
		a.Backend, a.Init, a.DropRNG = be, init, m.DropRNG
		l, err := p.kind.Build(a)
		if err != nil {
			return nil, &SpecError{Where: where(a, p.role), Err: err}
		}
		m.parts = append(m.parts, placed{p.pos, l})
		switch p.role {
		case roleStem:
			m.Stem = l
		case roleDownsample:
			m.stage(p.pos.Stage).Downsample = l
		case roleBlock:
			st := m.stage(p.pos.Stage)
			st.Blocks = append(st.Blocks, l)
		case roleHead:
			if err := m.setHead(l); err != nil {
				return nil, err
			}
		}
		if s, ok := l.(*layers.Sequential); ok && s.Name() == "" {
			net = append(net, s.Layers...) // an unnamed part (ConvNeXt's head) joins the network flat
			continue
		}
		net = append(net, l)
	}
	if cfg.HeadInitScale != 1 && init != nil {
		if err := scaleParam(be, m.Head.Weight, cfg.HeadInitScale); err != nil {
			return nil, err
		}
	}
	m.Net = layers.NewSequential("", net...)
	return m, nil
}

// stage returns stage i, adding stages up to it.
func (m *Model) stage(i int) *Stage {
	for len(m.Stages) <= i {
		m.Stages = append(m.Stages, &Stage{})
	}
	return m.Stages[i]
}

// setHead records the head l and finds its classifier (the last Linear),
// pool and LayerNorm.
func (m *Model) setHead(l layers.Layer) error {
	m.HeadNet = l
	layers.Walk(l, func(c layers.Layer) {
		switch v := c.(type) {
		case *layers.Linear:
			m.Head = v
		case *layers.GlobalAvgPool:
			m.Pool = v
		case *layers.LayerNorm:
			m.HeadNorm = v
		}
	})
	if m.Head == nil {
		return &SpecError{Where: "head", Err: fmt.Errorf("field kind: the head has no Linear classifier: %w", ErrSpec)}
	}
	return nil
}

// placed is a part of the network and its place.
type placed struct {
	pos   Position
	layer layers.Layer
}

// Positions maps the name of every parameter of the stem, the downsamples
// and the blocks, and of the head where it is one layer, to the part it
// belongs to, read from the layers the builder placed (so parameters added
// later inside a part, QAT's quantizer scales, belong to it too).
func (m *Model) Positions() map[string]Position {
	out := map[string]Position{}
	for _, p := range m.parts {
		for _, q := range p.layer.Params() {
			out[q.Name] = p.pos
		}
	}
	return out
}

// scaleParam multiplies a parameter's value by s on the host.
func scaleParam(be kernels.Backend, p *layers.Param, s float64) error {
	v := make([]float32, p.Value.Len())
	if err := be.Download(v, p.Value); err != nil {
		return err
	}
	for i := range v {
		v[i] = float32(float64(v[i]) * s)
	}
	return be.Upload(p.Value, v)
}

// Params returns every parameter in state-dict order.
func (m *Model) Params() []*layers.Param { return m.Arena.Params }

// NumParams returns the number of parameter elements.
func (m *Model) NumParams() int { return m.Arena.NumParams() }

// Forward computes logits [N, NumClasses] for images x [N, H, W, InChans]
// (NHWC). H and W must survive the stem and every downsampling (at least
// StemPatch·2^(stages−1) pixels), and the pass must fit the process's
// Limits (checked before any activation is allocated). The result belongs
// to the model until the next Forward.
func (m *Model) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	if err := m.checkInput(x); err != nil {
		return kernels.Tensor{}, err
	}
	return m.Net.Forward(x)
}

// checkInput returns Forward's error for an input of the wrong shape, one
// smaller than MinInput or one over the process's Limits.
func (m *Model) checkInput(x kernels.Tensor) error {
	if len(x.Shape) != 4 || x.Shape[3] != m.Config.InChans {
		return fmt.Errorf("model %s: input shape %v, want [N H W %d] (NHWC): %w", m.Config.Name, x.Shape, m.Config.InChans, kernels.ErrShape)
	}
	if min := m.MinInput(); x.Shape[1] < min || x.Shape[2] < min {
		return fmt.Errorf("model %s: input %dx%d is smaller than the %dx%d the stem and downsamplings need: %w", m.Config.Name, x.Shape[1], x.Shape[2], min, min, kernels.ErrShape)
	}
	return m.checkLimits(x.Shape)
}

// checkLimits is CurrentLimits().Check for input shape s, remembered while
// the shape and the limits stay the same.
func (m *Model) checkLimits(s kernels.Shape) error {
	l := CurrentLimits()
	if m.checked.shape.Equal(s) && m.checked.limits == l {
		return nil
	}
	if err := l.Check(m.Config, s[0], s[1], s[2]); err != nil {
		return err
	}
	m.checked.shape, m.checked.limits = s.Clone(), l
	return nil
}

// Backward propagates dlogits [N, NumClasses] through the network,
// accumulating every parameter gradient in the arena. Call Arena.ZeroGrad
// before the step.
func (m *Model) Backward(dlogits kernels.Tensor) error {
	_, err := m.Net.Backward(dlogits)
	return err
}

// SetTraining switches drop path on (training) or off (evaluation).
func (m *Model) SetTraining(on bool) { layers.SetTraining(m.Net, on) }

// MinInput returns the smallest input side the network accepts (the
// product of the stem's and every stage's stride; StemPatch·2^(stages−1)
// for ConvNeXt).
func (m *Model) MinInput() int { return m.minInput }
