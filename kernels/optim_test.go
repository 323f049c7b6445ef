package kernels

import (
	"errors"
	"math"
	"testing"
)

func TestCheckGroups(t *testing.T) {
	for _, groups := range [][]AdamWGroup{
		nil,
		{{Offset: 0, Len: 10, LR: 1e-3}},
		{{Offset: 0, Len: 3}, {Offset: 3, Len: 7}},
		{{Offset: 0, Len: 10}, {Offset: 5, Len: 0}}, // an empty group inside another
		{{Offset: 10, Len: 0}},
	} {
		if err := CheckGroups("test", groups, 10); err != nil {
			t.Errorf("%+v: %v", groups, err)
		}
	}
	for name, groups := range map[string][]AdamWGroup{
		"past the end":         {{Offset: 5, Len: 6}},
		"negative offset":      {{Offset: -1, Len: 2}},
		"negative length":      {{Offset: 2, Len: -2}},
		"overflowing end":      {{Offset: 2, Len: math.MaxInt}},
		"overlap":              {{Offset: 0, Len: 5}, {Offset: 7, Len: 3}, {Offset: 4, Len: 2}},
		"overlap around empty": {{Offset: 0, Len: 10}, {Offset: 5, Len: 0}, {Offset: 8, Len: 2}},
		"same range twice":     {{Offset: 2, Len: 3}, {Offset: 2, Len: 3}},
	} {
		if err := CheckGroups("test", groups, 10); !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v, want an error wrapping ErrShape", name, err)
		}
	}
	for name, gr := range map[string]AdamWGroup{
		"negative lr": {Len: 10, LR: -1e-3},
		"NaN lr":      {Len: 10, LR: math.NaN()},
		"Inf lr":      {Len: 10, LR: math.Inf(1)},
		"negative wd": {Len: 10, WeightDecay: -0.1},
		"Inf wd":      {Len: 10, WeightDecay: math.Inf(1)},
	} {
		if err := CheckGroups("test", []AdamWGroup{gr}, 10); err == nil {
			t.Errorf("accepted %s", name)
		}
	}
}

func TestOptimHyperValidate(t *testing.T) {
	if err := (AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}).Validate(); err != nil {
		t.Error(err)
	}
	for name, h := range map[string]AdamWHyper{
		"beta1 = 1": {Beta1: 1, Beta2: 0.999, Step: 1},
		"beta2 < 0": {Beta1: 0.9, Beta2: -0.1, Step: 1},
		"NaN beta2": {Beta1: 0.9, Beta2: math.NaN(), Step: 1},
		"eps < 0":   {Beta1: 0.9, Beta2: 0.999, Eps: -1e-8, Step: 1},
		"Inf eps":   {Beta1: 0.9, Beta2: 0.999, Eps: math.Inf(1), Step: 1},
		"step 0":    {Beta1: 0.9, Beta2: 0.999},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("AdamWHyper accepted %s", name)
		}
	}
	for _, h := range []SGDHyper{{}, {Momentum: 0.9, Nesterov: true}, {Momentum: 0.9, Dampening: 1}} {
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: %v", h, err)
		}
	}
	for name, h := range map[string]SGDHyper{
		"negative momentum":       {Momentum: -0.1},
		"Inf momentum":            {Momentum: math.Inf(1)},
		"dampening 2":             {Momentum: 0.9, Dampening: 2},
		"Nesterov with dampening": {Momentum: 0.9, Dampening: 0.1, Nesterov: true},
		"Nesterov, no momentum":   {Nesterov: true},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("SGDHyper accepted %s", name)
		}
	}
}
