// Package prune removes whole MLP hidden channels from the ConvNeXt blocks
// of a trained model and returns a smaller real model: its configuration
// records each block's new hidden width (models "hidden" key), its weights
// are the kept rows and columns, and it has no masks, so it loads,
// evaluates and fine-tunes with no knowledge of the original.
//
// A hidden channel c of a block is fc1's row c and bias c, GRN's gamma[c]
// and beta[c] (V2) and fc2's column c; the block's input and output width
// (and V1's layer scale, which acts on the output) are unchanged.
// docs/PRUNING.md gives the criteria and their sources.
package prune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// Criterion ranks a block's hidden channels; the lowest scores go first.
type Criterion string

// The criteria (formulas in docs/PRUNING.md).
const (
	// L1 scores channel c by Σ_i |fc1.W[c,i]| + Σ_o |fc2.W[o,c]|, the L1
	// norms of the weights that read and write it (Li et al. 2017, "Pruning
	// Filters for Efficient ConvNets", §3.1, extended to the consuming
	// layer's column).
	L1 Criterion = "l1"
	// GRN scores channel c by |GRN γ[c]|, how much GRN's response
	// normalization adds to the channel (ConvNeXt V2 blocks only).
	GRN Criterion = "grn"
	// Taylor scores channel c by the first-order Taylor estimate of the
	// loss change when its activation a (GELU's output) is zeroed,
	// mean over samples of |Σ_{h,w} a·∂L/∂a| on calibration batches
	// (Molchanov et al. 2017, "Pruning Convolutional Neural Networks for
	// Resource Efficient Inference", eq. 8).
	Taylor Criterion = "taylor"
)

// Scope says how the ratio applies.
type Scope string

// The scopes.
const (
	// Global ranks every prunable channel of the model together, each
	// block's scores divided by their mean, and removes the lowest Ratio of
	// all of them, each block keeping at least MinKeep of its channels.
	// (Molchanov et al. 2017, §2.2, divide by the L2 norm instead, which
	// scales a block's scores by about 1/√hidden and so prunes wide blocks
	// harder.)
	Global Scope = "global"
	// Layer removes round(Ratio·hidden) channels from every block.
	Layer Scope = "layer"
)

// MinKeep is the smallest fraction of a block's hidden channels global
// pruning keeps (at least one channel).
const MinKeep = 0.1

// ErrOptions is wrapped by every error about bad pruning options.
var ErrOptions = errors.New("bad pruning option")

// Options configures Prune.
type Options struct {
	Ratio     float64   // fraction of the prunable hidden channels to remove, in (0, 1)
	Criterion Criterion // l1 (default), grn or taylor
	Scope     Scope     // global (default) or layer
}

// Check returns an error naming the first bad field of o (wrapping
// ErrOptions), nil when o is valid.
func (o Options) Check() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults fills the empty fields and checks the others, naming the
// field in its error.
func (o Options) withDefaults() (Options, error) {
	if o.Criterion == "" {
		o.Criterion = L1
	}
	if o.Scope == "" {
		o.Scope = Global
	}
	switch {
	case !(o.Ratio > 0 && o.Ratio < 1):
		return o, fmt.Errorf("field ratio: %v must be in (0, 1): %w", o.Ratio, ErrOptions)
	case !slices.Contains([]Criterion{L1, GRN, Taylor}, o.Criterion):
		return o, fmt.Errorf("field criterion: %q is not l1, grn or taylor: %w", o.Criterion, ErrOptions)
	case o.Scope != Global && o.Scope != Layer:
		return o, fmt.Errorf("field scope: %q is not global or layer: %w", o.Scope, ErrOptions)
	}
	return o, nil
}

// Site is one prunable block: its place and layer.
type Site struct {
	Stage, Index int
	Block        *layers.Block
}

// Sites returns m's ConvNeXt blocks in execution order; other kinds are
// not prunable here and are skipped.
func Sites(m *models.Model) []Site {
	var out []Site
	for i, st := range m.Stages {
		for j, l := range st.Blocks {
			if b, ok := l.(*layers.Block); ok {
				out = append(out, Site{i, j, b})
			}
		}
	}
	return out
}

// Select returns, for each block's scores, the sorted indices of the
// channels to keep under o (Ratio and Scope). Ties go to the lower index
// (the higher index is removed first), so the choice is deterministic.
func Select(scores [][]float64, o Options) ([][]int, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	type ch struct {
		block, c int
		s        float64
	}
	var all []ch
	drop := make([]int, len(scores)) // channels to remove per block
	for b, s := range scores {
		if o.Scope == Layer {
			drop[b] = min(int(math.Round(o.Ratio*float64(len(s)))), len(s)-1)
			continue
		}
		norm := 0.0
		for _, v := range s {
			norm += v / float64(len(s))
		}
		if norm == 0 {
			norm = 1
		}
		for c, v := range s {
			all = append(all, ch{b, c, v / norm})
		}
	}
	if o.Scope == Global {
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].s != all[j].s {
				return all[i].s < all[j].s
			}
			return all[i].c > all[j].c
		})
		target := int(math.Round(o.Ratio * float64(len(all))))
		removed := map[[2]int]bool{}
		for _, x := range all {
			if len(removed) == target {
				break
			}
			h := len(scores[x.block])
			if h-drop[x.block]-1 < max(1, int(math.Ceil(MinKeep*float64(h)))) {
				continue
			}
			drop[x.block]++
			removed[[2]int{x.block, x.c}] = true
		}
		keep := make([][]int, len(scores))
		for b, s := range scores {
			for c := range s {
				if !removed[[2]int{b, c}] {
					keep[b] = append(keep[b], c)
				}
			}
		}
		return keep, nil
	}
	keep := make([][]int, len(scores))
	for b, s := range scores {
		idx := make([]int, len(s))
		for c := range idx {
			idx[c] = c
		}
		sort.SliceStable(idx, func(i, j int) bool {
			if s[idx[i]] != s[idx[j]] {
				return s[idx[i]] > s[idx[j]]
			}
			return idx[i] < idx[j]
		})
		keep[b] = idx[:len(s)-drop[b]]
		sort.Ints(keep[b])
	}
	return keep, nil
}
