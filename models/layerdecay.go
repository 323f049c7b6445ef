package models

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LayerDecay returns the learning-rate multiplier of every parameter name
// under layer-wise learning-rate decay as ConvNeXt V2 fine-tuning applies it
// (official optim_factory.py / utils.py, docs/CONVNEXTV2.md §3.2): a parameter in
// layer i of L gets decay^(L+1−i).
//
// mode "single" (atto–tiny): L = Σ depths; the stem shares layer 1 with the
// first block, stages.s.blocks.b is layer Σdepths[:s]+b+1, each downsampler
// shares the layer of its stage's first block, the head is L+1. mode "group"
// (base, large): 12 layers, stage 2 split in groups of three blocks. decay 1
// gives 1 everywhere. It returns an error for an unknown mode, a decay
// outside (0, 1], or "group" on a model without four stages.
func LayerDecay(c Config, decay float64, mode string) (func(name string) float64, error) {
	if !(decay > 0 && decay <= 1) {
		return nil, fmt.Errorf("models: layer decay %v outside (0, 1]", decay)
	}
	var layers int
	var id func(stage, block int, downsample bool) int
	switch mode {
	case "single", "":
		for _, d := range c.Depths {
			layers += d
		}
		id = func(stage, block int, _ bool) int {
			n := 0
			for _, d := range c.Depths[:stage] {
				n += d
			}
			return n + block + 1
		}
	case "group":
		if len(c.Depths) != 4 {
			return nil, fmt.Errorf("models: group layer decay needs 4 stages, %s has %d", c.Name, len(c.Depths))
		}
		layers = 12
		id = func(stage, block int, downsample bool) int {
			switch {
			case stage == 0 && downsample:
				return 0
			case stage <= 1 || (stage == 2 && downsample):
				return stage + 1
			case stage == 2:
				return min(3+block/3, 11)
			}
			return 12
		}
	default:
		return nil, fmt.Errorf("models: unknown layer decay mode %q (want single or group)", mode)
	}
	return func(name string) float64 {
		layer := layers + 1
		switch {
		case strings.HasPrefix(name, "stem."):
			layer = id(0, 0, true)
		case strings.HasPrefix(name, "stages."):
			parts := strings.Split(name, ".")
			s, _ := strconv.Atoi(parts[1])
			if len(parts) > 3 && parts[2] == "blocks" {
				b, _ := strconv.Atoi(parts[3])
				layer = id(s, b, false)
			} else {
				layer = id(s, 0, true)
			}
		}
		return math.Pow(decay, float64(layers+1-layer))
	}, nil
}
