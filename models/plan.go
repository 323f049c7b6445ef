package models

import (
	"fmt"
	"maps"
)

// Position is where a part sits in a network, as the builder knows it:
// layer-wise learning-rate decay and the checkpoint naming read it instead
// of parsing parameter names.
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
		a.Eps = c.Eps
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
	stem := sp.Stem
	if err := add(roleStem, stem.Kind, Position{Part: "stem"}, BlockArgs{Stage: -1, Name: "stem", In: c.InChans, Out: stem.Dim, Dim: stem.Dim, Stride: stem.Stride, Params: stem.Params}); err != nil {
		return nil, err
	}
	prev, block := stem.Dim, 0
	for i, st := range sp.Stages {
		name := fmt.Sprintf("stages.%d", i)
		stride := st.Stride
		if st.Downsample != "" {
			a := BlockArgs{Stage: i, Block: -1, Name: name + ".downsample", In: prev, Out: st.Dim, Dim: st.Dim, Stride: stride}
			if err := add(roleDownsample, st.Downsample, Position{Part: "downsample", Stage: i}, a); err != nil {
				return nil, err
			}
			prev, stride = st.Dim, 1
		}
		for j := range st.Depth {
			ps := maps.Clone(st.Params)
			if st.Blocks != nil {
				ps = st.Params.Merge(st.Blocks[j])
			}
			a := BlockArgs{Stage: i, Block: j, Name: fmt.Sprintf("%s.blocks.%d", name, j), In: prev, Out: st.Dim, Dim: st.Dim,
				Stride: stride, DropPath: rates[block], Params: ps}
			if err := add(roleBlock, st.Kind, Position{Part: "block", Stage: i, Block: j}, a); err != nil {
				return nil, err
			}
			prev, stride = st.Dim, 1
			block++
		}
	}
	head := sp.Head
	a := BlockArgs{Stage: ns, Name: "head", In: prev, Out: c.NumClasses, Dim: head.Dim, Stride: 1, Params: head.Params}
	if err := add(roleHead, head.Kind, Position{Part: "head", Stage: ns - 1}, a); err != nil {
		return nil, err
	}
	return parts, nil
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
	}
	return c
}
