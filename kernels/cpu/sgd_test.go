package cpu

import (
	"errors"
	"math"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// TestSGDHandValues follows torch.optim.SGD by hand for two steps.
func TestSGDHandValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      kernels.SGDHyper
		wd     float64
		p1, p2 float64 // parameter after steps 1 and 2, p0 = 1, g = 0.5, lr = 0.1
	}{
		{"plain", kernels.SGDHyper{}, 0, 0.95, 0.90},
		{"momentum", kernels.SGDHyper{Momentum: 0.9}, 0, 0.95, 0.855},
		// step 1: buf = .5, d = .5 + .9·.5 = .95; step 2: buf = .9·.5 + .5 = .95, d = .5 + .855
		{"nesterov", kernels.SGDHyper{Momentum: 0.9, Nesterov: true}, 0, 0.905, 0.7695},
		// step 1: g' = .5 + .1·1 = .6 → .94; step 2: g' = .5 + .094 = .594 → .8806
		{"weight decay", kernels.SGDHyper{}, 0.1, 0.94, 0.8806},
	} {
		be := New64()
		p, _ := be.Alloc(kernels.Shape{3})
		g, _ := be.Alloc(kernels.Shape{3})
		buf, _ := be.Alloc(kernels.Shape{3})
		copy(p.Host64(), []float64{1, 1, 7})
		copy(g.Host64(), []float64{0.5, 0.5, 0.5})
		groups := []kernels.AdamWGroup{{Offset: 0, Len: 2, LR: 0.1, WeightDecay: tc.wd}}
		for step, want := range []float64{tc.p1, tc.p2} {
			h := tc.h
			h.First = step == 0
			if err := be.SGD(p, g, buf, groups, h); err != nil {
				t.Fatal(err)
			}
			if got := p.Host64()[0]; math.Abs(got-want) > 1e-12 {
				t.Errorf("%s step %d: p = %v, want %v", tc.name, step+1, got, want)
			}
		}
		if p.Host64()[2] != 7 {
			t.Errorf("%s: element outside every group changed to %v", tc.name, p.Host64()[2])
		}
	}
}

func TestSGDErrors(t *testing.T) {
	be := New()
	p, _ := be.Alloc(kernels.Shape{4})
	g, _ := be.Alloc(kernels.Shape{4})
	bad := [][]kernels.AdamWGroup{
		{{Offset: 2, Len: 3, LR: 0.1}},
		{{Offset: 0, Len: 3, LR: 0.1}, {Offset: 2, Len: 2, LR: 0.1}},
		{{Offset: 0, Len: 4, LR: math.NaN()}},
	}
	for _, groups := range bad {
		if err := be.SGD(p, g, kernels.Tensor{}, groups, kernels.SGDHyper{}); err == nil {
			t.Errorf("groups %+v accepted", groups)
		}
	}
	if err := be.SGD(p, g, kernels.Tensor{}, nil, kernels.SGDHyper{Momentum: 0.9}); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("momentum without buffer: %v", err)
	}
}
