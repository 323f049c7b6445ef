package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// Model is a ConvNeXt network on one backend:
//
//	x [N, H, W, InChans] → stem (Conv2D k=s=StemPatch, LayerNorm)
//	  → for each stage i: [LayerNorm, Conv2D k=s=2 for i > 0] then Depths[i] blocks
//	  → global average pool → LayerNorm → Linear → logits [N, NumClasses]
//
// Parameters are packed into one [layers.Arena] (Arena). Parameter names and
// order are timm's state dict: stem.*, stages.i.downsample.*,
// stages.i.blocks.j.*, head.norm.*, head.fc.*.
type Model struct {
	Config   Config
	Backend  kernels.Backend
	Stem     *layers.Sequential
	Stages   []*Stage
	Pool     *layers.GlobalAvgPool
	HeadNorm *layers.LayerNorm
	Head     *layers.Linear
	Net      *layers.Sequential // the whole network in execution order
	Arena    *layers.Arena
	// DropRNG is the Philox generator every drop path draws its masks
	// from, on the device where the backend can; a training checkpoint
	// saves its (seed, counter) state.
	DropRNG *philox.Generator
}

// Stage is one resolution of the network: an optional downsampling layer
// (LayerNorm then a 2×2 stride-2 Conv2D) followed by blocks.
type Stage struct {
	Downsample *layers.Sequential // nil for stage 0
	Blocks     []*layers.Block
}

// New builds the model described by cfg on be. Weights are drawn from the
// published init (truncated normal std 0.02 for every conv and linear, zero
// biases, LayerNorm 1/0, GRN 0/0, head scaled by HeadInitScale) with a
// generator seeded by seed; drop path masks come from the Philox stream
// philox.Derive(seed, philox.StreamDropPath). It returns an error if cfg is
// invalid or over the process's Limits (checked analytically before
// anything is allocated).
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
	if err := cfg.CheckLimits(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Backend: be, DropRNG: philox.New(philox.Derive(seed, philox.StreamDropPath))}
	drop := m.DropRNG

	stemConv, err := layers.NewConv2D(be, "stem.0", cfg.InChans, cfg.Dims[0], cfg.StemPatch, cfg.StemPatch, 0, true, init)
	if err != nil {
		return nil, err
	}
	stemConv.NoInputGrad = true
	stemNorm, err := layers.NewLayerNorm(be, "stem.1", cfg.Dims[0], cfg.Eps)
	if err != nil {
		return nil, err
	}
	m.Stem = layers.NewSequential("stem", stemConv, stemNorm)
	net := []layers.Layer{m.Stem}

	rates := cfg.DropPathRates()
	blockIdx := 0
	for i, depth := range cfg.Depths {
		st := &Stage{}
		name := fmt.Sprintf("stages.%d", i)
		if i > 0 {
			ln, err := layers.NewLayerNorm(be, name+".downsample.0", cfg.Dims[i-1], cfg.Eps)
			if err != nil {
				return nil, err
			}
			conv, err := layers.NewConv2D(be, name+".downsample.1", cfg.Dims[i-1], cfg.Dims[i], 2, 2, 0, true, init)
			if err != nil {
				return nil, err
			}
			st.Downsample = layers.NewSequential(name+".downsample", ln, conv)
			net = append(net, st.Downsample)
		}
		for j := range depth {
			bc := layers.BlockConfig{
				Dim: cfg.Dims[i], Kernel: cfg.Kernel, MLPRatio: cfg.MLPRatio, GRN: cfg.GRN,
				LayerScale: cfg.LayerScale, DropPath: rates[blockIdx], Eps: cfg.Eps,
			}
			b, err := layers.NewBlock(be, fmt.Sprintf("%s.blocks.%d", name, j), bc, init, drop)
			if err != nil {
				return nil, err
			}
			st.Blocks = append(st.Blocks, b)
			net = append(net, b)
			blockIdx++
		}
		m.Stages = append(m.Stages, st)
	}

	last := cfg.Dims[len(cfg.Dims)-1]
	m.Pool = layers.NewGlobalAvgPool(be, "head.global_pool")
	if m.HeadNorm, err = layers.NewLayerNorm(be, "head.norm", last, cfg.Eps); err != nil {
		return nil, err
	}
	if m.Head, err = layers.NewLinear(be, "head.fc", last, cfg.NumClasses, true, init); err != nil {
		return nil, err
	}
	if cfg.HeadInitScale != 1 && init != nil {
		if err := scaleParam(be, m.Head.Weight, cfg.HeadInitScale); err != nil {
			return nil, err
		}
	}
	net = append(net, m.Pool, m.HeadNorm, m.Head)
	m.Net = layers.NewSequential("", net...)
	return m, nil
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
func (m *Model) NumParams() int { return m.Arena.Len() }

// Forward computes logits [N, NumClasses] for images x [N, H, W, InChans]
// (NHWC). H and W must survive the stem and every downsampling (at least
// StemPatch·2^(stages−1) pixels), and the pass must fit the process's
// Limits (checked before any activation is allocated). The result belongs
// to the model until the next Forward.
func (m *Model) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	if len(x.Shape) != 4 || x.Shape[3] != m.Config.InChans {
		return kernels.Tensor{}, fmt.Errorf("model %s: input shape %v, want [N H W %d] (NHWC): %w", m.Config.Name, x.Shape, m.Config.InChans, kernels.ErrShape)
	}
	if min := m.MinInput(); x.Shape[1] < min || x.Shape[2] < min {
		return kernels.Tensor{}, fmt.Errorf("model %s: input %dx%d is smaller than the %dx%d the stem and downsamplings need: %w", m.Config.Name, x.Shape[1], x.Shape[2], min, min, kernels.ErrShape)
	}
	if err := CurrentLimits().Check(m.Config, x.Shape[0], x.Shape[1], x.Shape[2]); err != nil {
		return kernels.Tensor{}, err
	}
	return m.Net.Forward(x)
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

// MinInput returns the smallest input side the network accepts,
// StemPatch·2^(stages−1).
func (m *Model) MinInput() int { return m.Config.StemPatch << (len(m.Config.Depths) - 1) }
