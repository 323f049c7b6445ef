package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// EfficientNet is a MobileNet/EfficientNet network built from an
// [EfficientArch] on one backend, with timm's state-dict names (conv_stem,
// bn1, blocks.S.J.*, conv_head, bn2 or norm_head, classifier):
//
//	x [N, H, W, InChans] → conv_stem (3×3, stride 2) → bn1 + act → blocks
//	  → head (docs/EFFICIENT.md §4) → logits [N, NumClasses]
//
// Parameters live in one [layers.Arena]; BatchNorm running statistics are
// buffers outside it ([EfficientNet.Buffers]).
type EfficientNet struct {
	Arch    EfficientArch
	Backend kernels.Backend
	Net     *layers.Sequential // the whole network in execution order
	Arena   *layers.Arena
	DropRNG *philox.Generator
}

// NewEfficientNet builds arch on be with convolution and linear weights drawn
// by a generator seeded with seed (nextconv's truncated normal, std 0.02),
// BatchNorm at weight 1, bias 0, running mean 0 and variance 1, and drop path
// masks from philox.Derive(seed, philox.StreamDropPath). It returns an error
// naming the stage, block and field of an invalid block.
func NewEfficientNet(be kernels.Backend, arch EfficientArch, seed uint64) (*EfficientNet, error) {
	if arch.InChans <= 0 || arch.StemWidth <= 0 || arch.Features <= 0 || arch.NumClasses <= 0 {
		return nil, fmt.Errorf("models: %s: in_chans %d, stem width %d, features %d and classes %d must be positive", arch.Name, arch.InChans, arch.StemWidth, arch.Features, arch.NumClasses)
	}
	act, err := kernels.ParseActivation(arch.Act)
	if err != nil {
		return nil, fmt.Errorf("models: %s: act: %w", arch.Name, err)
	}
	init := rand.New(rand.NewPCG(seed, 1))
	m := &EfficientNet{Arch: arch, Backend: be, DropRNG: philox.New(philox.Derive(seed, philox.StreamDropPath))}
	net, err := efficientStem(be, init, arch.InChans, arch.StemWidth, act)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", arch.Name, err)
	}
	in := arch.StemWidth
	for i, st := range arch.Stages {
		for j, bc := range st {
			if bc.In != in {
				return nil, fmt.Errorf("models: %s: stage %d block %d: in %d, but the previous block gives %d channels", arch.Name, i, j, bc.In, in)
			}
			b, err := layers.NewEfficientBlock(be, fmt.Sprintf("blocks.%d.%d", i, j), bc, init, m.DropRNG)
			if err != nil {
				return nil, fmt.Errorf("models: %s: stage %d block %d: %w", arch.Name, i, j, err)
			}
			net = append(net, b)
			in = bc.Out
		}
	}
	head, err := efficientHead(be, init, arch.Head, in, arch.Features, arch.NumClasses, act)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", arch.Name, err)
	}
	net = append(net, head...)
	m.Net = layers.NewSequential("", net...)
	if m.Arena, err = layers.NewArena(be, m.Net.Params()); err != nil {
		return nil, err
	}
	return m, nil
}

// Params returns every parameter in state-dict order.
func (m *EfficientNet) Params() []*layers.Param { return m.Arena.Params }

// NumParams returns the number of parameter elements.
func (m *EfficientNet) NumParams() int { return m.Arena.NumParams() }

// Buffers returns the BatchNorm running statistics (and batch counts) in
// state-dict order.
func (m *EfficientNet) Buffers() []*layers.Param {
	var out []*layers.Param
	layers.Walk(m.Net, func(l layers.Layer) {
		if b, ok := l.(layers.BufferHolder); ok {
			out = append(out, b.Buffers()...)
		}
	})
	return out
}

// StateTensors returns parameters and buffers in timm's state-dict order:
// each leaf layer's parameters, then its buffers.
func (m *EfficientNet) StateTensors() []*layers.Param {
	var out []*layers.Param
	layers.Walk(m.Net, func(l layers.Layer) {
		if _, ok := l.(layers.Container); ok {
			return
		}
		out = append(out, l.Params()...)
		if b, ok := l.(layers.BufferHolder); ok {
			out = append(out, b.Buffers()...)
		}
	})
	return out
}

// Forward computes logits [N, NumClasses] for NHWC images x [N, H, W,
// InChans]; H and W must be at least 32 (five stride-2 steps). The result
// belongs to the model until the next Forward.
func (m *EfficientNet) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	if err := m.checkInput(x); err != nil {
		return kernels.Tensor{}, err
	}
	return m.Net.Forward(x)
}

// checkInput returns an error wrapping kernels.ErrShape unless x is [N, H,
// W, InChans] with H, W >= 32.
func (m *EfficientNet) checkInput(x kernels.Tensor) error {
	if len(x.Shape) != 4 || x.Shape[3] != m.Arch.InChans || x.Shape[1] < 32 || x.Shape[2] < 32 {
		return fmt.Errorf("model %s: input shape %v, want [N H W %d] (NHWC) with H, W >= 32: %w", m.Arch.Name, x.Shape, m.Arch.InChans, kernels.ErrShape)
	}
	return nil
}

// Backward propagates dlogits [N, NumClasses], accumulating parameter
// gradients in the arena.
func (m *EfficientNet) Backward(dlogits kernels.Tensor) error {
	_, err := m.Net.Backward(dlogits)
	return err
}

// SetTraining switches BatchNorm (batch statistics) and drop path on, or
// both to evaluation.
func (m *EfficientNet) SetTraining(on bool) { layers.SetTraining(m.Net, on) }

// LoadTensors sets parameters and buffers from timm-named tensors, matched
// by name; shapes may differ only in size-1 axes. A tensor of the model
// missing from tensors, an unexpected one or a mis-shaped one is reported
// in a *CheckpointError and nothing changes.
func (m *EfficientNet) LoadTensors(path string, tensors []Tensor) error {
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	return loadByName(m.Backend, path, m.StateTensors(), byName)
}
