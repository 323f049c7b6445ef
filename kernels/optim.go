package kernels

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// CheckGroups returns an error unless every group of an optimizer step lies
// inside an arena of n elements, no two non-empty groups overlap, and every
// learning rate and weight decay is finite and >= 0 (torch.optim rejects
// negative ones). Range and overlap errors wrap [ErrShape]; every error
// names op and the group's index. Both backends' AdamW and SGD call it, so
// they accept exactly the same groups.
func CheckGroups(op string, groups []AdamWGroup, n int) error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	for i, gr := range groups {
		if gr.Offset < 0 || gr.Len < 0 || gr.Offset > n || gr.Len > n-gr.Offset {
			return fmt.Errorf("%s: group %d [%d, %d+%d) does not fit the arena of %d elements: %w",
				op, i, gr.Offset, gr.Offset, gr.Len, n, ErrShape)
		}
		if !(gr.LR >= 0) || !finite(gr.LR) {
			return fmt.Errorf("%s: group %d: learning rate %v must be finite and >= 0", op, i, gr.LR)
		}
		if !(gr.WeightDecay >= 0) || !finite(gr.WeightDecay) {
			return fmt.Errorf("%s: group %d: weight decay %v must be finite and >= 0", op, i, gr.WeightDecay)
		}
	}
	idx := make([]int, 0, len(groups))
	for i, gr := range groups {
		if gr.Len > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, c int) int { return cmp.Compare(groups[a].Offset, groups[c].Offset) })
	for k := 1; k < len(idx); k++ {
		prev, cur := groups[idx[k-1]], groups[idx[k]]
		if prev.Offset+prev.Len > cur.Offset {
			return fmt.Errorf("%s: group %d [%d, %d) overlaps group %d [%d, %d): %w", op,
				idx[k-1], prev.Offset, prev.Offset+prev.Len, idx[k], cur.Offset, cur.Offset+cur.Len, ErrShape)
		}
	}
	return nil
}

// Validate returns an error for AdamW coefficients that torch.optim.AdamW
// rejects: β1 or β2 outside [0, 1), eps negative or not finite, or a Step
// below 1 (steps count from 1).
func (h AdamWHyper) Validate() error {
	switch {
	case !(h.Beta1 >= 0 && h.Beta1 < 1):
		return fmt.Errorf("beta1 = %v must lie in [0, 1)", h.Beta1)
	case !(h.Beta2 >= 0 && h.Beta2 < 1):
		return fmt.Errorf("beta2 = %v must lie in [0, 1)", h.Beta2)
	case !(h.Eps >= 0) || math.IsInf(h.Eps, 0):
		return fmt.Errorf("eps = %v must be finite and >= 0", h.Eps)
	case h.Step < 1:
		return fmt.Errorf("step = %d must be >= 1 (it counts from 1)", h.Step)
	}
	return nil
}

// Validate returns an error for SGD coefficients torch.optim.SGD rejects or
// that make no sense: momentum negative or not finite, dampening outside
// [0, 1], or Nesterov without momentum or with dampening.
func (h SGDHyper) Validate() error {
	if !(h.Momentum >= 0) || math.IsInf(h.Momentum, 0) || !(h.Dampening >= 0 && h.Dampening <= 1) ||
		(h.Nesterov && (h.Momentum == 0 || h.Dampening != 0)) {
		return fmt.Errorf("invalid momentum %v dampening %v nesterov %v (momentum finite and >= 0, dampening in [0, 1]; Nesterov needs momentum > 0 and dampening 0)",
			h.Momentum, h.Dampening, h.Nesterov)
	}
	return nil
}

// CheckEMADecay returns an error naming op unless decay, the weight of the
// running average in an EMA update (timm's ModelEma), lies in [0, 1]; a NaN
// decay's error wraps [ErrNaN]. Both backends' EMA call it.
func CheckEMADecay(op string, decay float64) error {
	if math.IsNaN(decay) {
		return fmt.Errorf("%s: decay is NaN: %w", op, ErrNaN)
	}
	if decay < 0 || decay > 1 {
		return fmt.Errorf("%s: decay %v must lie in [0, 1]", op, decay)
	}
	return nil
}
