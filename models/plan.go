package models

import (
	"fmt"
	"maps"
)

// Position is where a part sits in a network, as the builder knows it:
// layer-wise learning-rate decay reads it instead of parsing parameter
// names.
type Position struct {
	Part  string // "stem", "downsample", "block" or "head"
	Stage int    // stage index (0 for the stem, len(stages)−1 for the head)
	Block int    // block index within the stage (0 for the other parts)
}

// part is one resolved piece of a Spec, ready to cost or build.
type part struct {
	role role
	kind BlockKind
	pos  Position
	args BlockArgs
}

// plan resolves c's Spec into its parts in execution order, checking every
// stage, block and field (a SpecError names the stage, block and field).
// It allocates nothing on a backend.
func (c Config) plan() ([]part, error) {
	sp := c.Spec()
	ns := len(sp.Stages)
	if ns == 0 || ns > MaxStages {
		return nil, &SpecError{Where: "stages", Err: fmt.Errorf("%d stages, need 1 to %d: %w", ns, MaxStages, ErrSpec)}
	}
	total := 0
	for i, st := range sp.Stages {
		fail := func(format string, v ...any) error {
			return &SpecError{Where: fmt.Sprintf("stage %d", i), Err: fmt.Errorf(format+": %w", append(v, ErrSpec)...)}
		}
		switch {
		case st.Depth <= 0 || st.Depth > MaxDepth:
			return nil, fail("field depth: %d outside [1, %d]", st.Depth, MaxDepth)
		case st.Dim <= 0 || st.Dim > MaxDim:
			return nil, fail("field dim: %d outside [1, %d]", st.Dim, MaxDim)
		case st.Stride <= 0 || st.Stride > MaxStemPatch:
			return nil, fail("field stride: %d outside [1, %d]", st.Stride, MaxStemPatch)
		case st.Blocks != nil && len(st.Blocks) != st.Depth:
			return nil, fail("field blocks: %d per-block tables for depth %d (give one per block or none)", len(st.Blocks), st.Depth)
		case st.Kind == "":
			return nil, fail("field kind: missing (known block kinds: %v)", Kinds("block"))
		}
		total += st.Depth
	}
	rates := c.dropPathRates(total)
	var parts []part
	add := func(r role, kind string, pos Position, a BlockArgs) error {
		a.Eps, a.MaxDropPath = c.Eps, c.DropPath
		if a.Params == nil {
			a.Params = Params{}
		}
		k, err := checkPart(r, kind, a)
		if err != nil {
			return err
		}
		parts = append(parts, part{role: r, kind: k, pos: pos, args: a})
		return nil
	}
	names, ok := namings[c.Names]
	if !ok {
		return nil, &SpecError{Where: "names", Err: fmt.Errorf("field names: unknown naming %q (want \"\" for ConvNeXt's stages.i.blocks.j, \"blocks\" for timm's EfficientNet/MobileNet blocks.i.j or \"resnet\" for timm's ResNet layerI.j): %w", c.Names, ErrSpec)}
	}
	stem := sp.Stem
	if err := add(roleStem, stem.Kind, Position{Part: "stem"}, BlockArgs{Stage: -1, Name: names.stem, In: c.InChans, Out: stem.Dim, Dim: stem.Dim, Stride: stem.Stride, Params: stem.Params}); err != nil {
		return nil, err
	}
	prev, block := stem.Dim, 0
	for i, st := range sp.Stages {
		stride := st.Stride
		if st.Downsample != "" {
			a := BlockArgs{Stage: i, Block: -1, Name: names.downsample(i), In: prev, Out: st.Dim, Dim: st.Dim, Stride: stride}
			if err := add(roleDownsample, st.Downsample, Position{Part: "downsample", Stage: i}, a); err != nil {
				return nil, err
			}
			prev, stride = st.Dim, 1
		}
		for j := range st.Depth {
			ps, kind, dim := maps.Clone(st.Params), st.Kind, st.Dim
			if st.Blocks != nil {
				var err error
				if ps, kind, dim, err = st.block(j); err != nil {
					return nil, &SpecError{Where: fmt.Sprintf("stage %d block %d", i, j), Err: err}
				}
			}
			a := BlockArgs{Stage: i, Block: j, Name: names.block(i, j), In: prev, Out: dim, Dim: dim,
				Stride: stride, Index: block, Total: total, DropPath: rates[block], Params: ps}
			if err := add(roleBlock, kind, Position{Part: "block", Stage: i, Block: j}, a); err != nil {
				return nil, err
			}
			prev, stride = dim, 1
			block++
		}
	}
	head := sp.Head
	a := BlockArgs{Stage: ns, Name: names.head, In: prev, Out: c.NumClasses, Dim: head.Dim, Stride: 1, Params: head.Params}
	if err := add(roleHead, head.Kind, Position{Part: "head", Stage: ns - 1}, a); err != nil {
		return nil, err
	}
	return parts, nil
}

// block returns block j's parameters (the stage's merged with the block's
// table), kind and output width: a block table may set "kind" and "dim"
// for that block alone (timm's MobileNetV4 mixes block types and widths
// within a stage).
func (st StageSpec) block(j int) (Params, string, int, error) {
	o := maps.Clone(st.Blocks[j])
	kind, err := o.String("kind", st.Kind)
	if err != nil {
		return nil, "", 0, err
	}
	dim, err := o.Int("dim", st.Dim)
	if err != nil {
		return nil, "", 0, err
	}
	if dim <= 0 || dim > MaxDim {
		return nil, "", 0, fmt.Errorf("field dim: %d outside [1, %d]: %w", dim, MaxDim, ErrSpec)
	}
	delete(o, "kind")
	delete(o, "dim")
	return st.Params.Merge(o), kind, dim, nil
}

// naming gives the parameter name prefix of every part.
type naming struct {
	stem, head string
	downsample func(stage int) string
	block      func(stage, block int) string
}

// namings are the checkpoint naming schemes Config.Names selects: "" is
// timm's and the official ConvNeXt (stem, stages.i.downsample,
// stages.i.blocks.j, head); "blocks" is timm's EfficientNet and MobileNet
// (the stem's and head's kinds name their own tensors, conv_stem, bn1,
// conv_head, classifier; blocks are blocks.i.j); "resnet" is timm's ResNet
// (the stem and head name conv1, bn1 and fc; blocks are layerI.j, I from 1).
var namings = map[string]naming{
	"": {stem: "stem", head: "head",
		downsample: func(i int) string { return fmt.Sprintf("stages.%d.downsample", i) },
		block:      func(i, j int) string { return fmt.Sprintf("stages.%d.blocks.%d", i, j) }},
	"blocks": {
		downsample: func(i int) string { return fmt.Sprintf("blocks.%d.downsample", i) },
		block:      func(i, j int) string { return fmt.Sprintf("blocks.%d.%d", i, j) }},
	"resnet": {
		downsample: func(i int) string { return fmt.Sprintf("layer%d.downsample", i+1) },
		block:      func(i, j int) string { return fmt.Sprintf("layer%d.%d", i+1, j) }},
}

// dropPathRates returns total rates, a linspace from 0 to DropPath.
func (c Config) dropPathRates(total int) []float64 {
	r := make([]float64, total)
	for i := range r {
		if total > 1 {
			r[i] = c.DropPath * float64(i) / float64(total-1)
		}
	}
	return r
}

// MinInput returns the smallest input side the network accepts: the stem's
// stride times every stage's (StemPatch·2^(stages−1) for ConvNeXt).
func (c Config) MinInput() int {
	sp := c.Spec()
	m := max(sp.Stem.Stride, 1)
	for _, st := range sp.Stages {
		if m > MaxInputSize {
			break
		}
		m *= max(st.Stride, 1)
	}
	return m
}

// Resolved returns c with Depths and Dims read from Stages when c has
// them, so code that reads the per-stage depths and widths sees the
// spec's; New resolves its Config.
func (c Config) Resolved() Config {
	if len(c.Stages) == 0 {
		return c
	}
	c.Depths, c.Dims = make([]int, len(c.Stages)), make([]int, len(c.Stages))
	for i, st := range c.Stages {
		c.Depths[i], c.Dims[i] = st.Depth, st.Dim
		if len(st.Blocks) > 0 && st.Depth == len(st.Blocks) {
			if _, _, dim, err := st.block(st.Depth - 1); err == nil {
				c.Dims[i] = dim // the stage's output: its last block's width
			}
		}
	}
	return c
}
