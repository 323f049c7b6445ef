package models

import (
	"fmt"
	"math"
)

// LayerDecay returns the learning-rate multiplier of every parameter name
// of m under layer-wise learning-rate decay as ConvNeXt V2 fine-tuning
// applies it (official optim_factory.py / utils.py, docs/CONVNEXTV2.md
// §3.2): a parameter in layer i of L gets decay^(L+1−i). Layers come from
// the part each parameter belongs to (Model.Positions), not from its name.
//
// mode "single" (atto–tiny): L = the number of blocks; the stem shares
// layer 1 with the first block, block b of stage s is layer
// Σdepths[:s]+b+1, each downsampler shares the layer of its stage's first
// block, the head (and any parameter outside the parts) is L+1. mode
// "group" (base, large): 12 layers, stage 2 split in groups of three
// blocks. decay 1 gives 1 everywhere. It returns an error for an unknown
// mode, a decay outside (0, 1], or "group" on a model without four stages.
func (m *Model) LayerDecay(decay float64, mode string) (func(name string) float64, error) {
	if !(decay > 0 && decay <= 1) {
		return nil, fmt.Errorf("models: layer decay %v outside (0, 1]", decay)
	}
	depths := make([]int, len(m.Stages))
	for i, st := range m.Stages {
		depths[i] = len(st.Blocks)
	}
	var layers int
	var id func(p Position) int
	switch mode {
	case "single", "":
		first := make([]int, len(depths)) // layer id of each stage's first block
		for i, d := range depths {
			first[i] = layers + 1
			layers += d
		}
		id = func(p Position) int {
			switch p.Part {
			case "stem":
				return 1
			case "downsample":
				return first[p.Stage]
			case "block":
				return first[p.Stage] + p.Block
			}
			return layers + 1
		}
	case "group":
		if len(depths) != 4 {
			return nil, fmt.Errorf("models: group layer decay needs 4 stages, %s has %d", m.Config.Name, len(depths))
		}
		layers = 12
		id = func(p Position) int {
			switch {
			case p.Part == "stem":
				return 0
			case p.Part == "head":
				return layers + 1
			case p.Stage <= 1 || (p.Stage == 2 && p.Part == "downsample"):
				return p.Stage + 1
			case p.Stage == 2:
				return min(3+p.Block/3, 11)
			}
			return 12
		}
	default:
		return nil, fmt.Errorf("models: unknown layer decay mode %q (want single or group)", mode)
	}
	pos := m.Positions()
	return func(name string) float64 {
		layer := layers + 1
		if p, ok := pos[name]; ok {
			layer = id(p)
		}
		return math.Pow(decay, float64(layers+1-layer))
	}, nil
}
