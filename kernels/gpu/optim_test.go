package gpu

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// optimArena is the arena layout of the optimizer tests: 3 groups (one with
// weight decay 0, one longer than a chunk so it spans two blocks), a gap
// between the first two groups, an empty group, and untouched elements at
// the end.
const optimArena = 37 + 13 + optimChunkLen + 1001 + 301 + 5

func optimGroups(step int) []kernels.AdamWGroup {
	f := 1 + 0.1*float64(step) // the learning rates change from step to step
	return []kernels.AdamWGroup{
		{Offset: 0, Len: 37, LR: 1e-3 * f, WeightDecay: 0.05},
		{Offset: 50, Len: optimChunkLen + 1001, LR: 2e-3 * f, WeightDecay: 0},
		{Offset: 50 + optimChunkLen + 1001, Len: 301, LR: 5e-4, WeightDecay: 0.1},
		{Offset: 20, Len: 0, LR: 1, WeightDecay: 1},
	}
}

// outside reports whether element i of the optimizer arena lies in no group.
func outside(i int) bool { return (i >= 37 && i < 50) || i >= 50+optimChunkLen+1001+301 }

// sameOutside checks that the device tensor g still holds init at every
// element outside the groups, bit for bit.
func (p *pair) sameOutside(what string, g kernels.Tensor, init []float32) {
	p.t.Helper()
	v := make([]float32, g.Len())
	p.ok(p.gpu.Download(v, g))
	for i := range v {
		if outside(i) && math.Float32bits(v[i]) != math.Float32bits(init[i]) {
			p.t.Fatalf("%s: element %d outside every group changed from %v to %v", what, i, init[i], v[i])
		}
	}
}

func TestAdamWMatchesCPU(t *testing.T) {
	p := newPair(t, 40)
	s := kernels.Shape{optimArena}
	initP := p.randVals(optimArena, 1)
	initM := p.randVals(optimArena, 1e-3) // moments outside the groups must stay as they are
	initV := make([]float32, optimArena)
	for i, x := range p.randVals(optimArena, 1e-3) {
		initV[i] = x * x
	}
	pc, pg := p.from(s, initP)
	mc, mg := p.from(s, initM)
	vc, vg := p.from(s, initV)
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for step := 1; step <= 4; step++ {
		h.Step = step
		gc, gg := p.in(s, 0.1)
		groups := optimGroups(step)
		if step == 4 {
			groups = optimGroups(3) // unchanged learning rates: the cached table is reused
		}
		p.ok(p.cpu.AdamW(pc, gc, mc, vc, groups, h))
		p.ok(p.gpu.AdamW(pg, gg, mg, vg, groups, h))
		name := fmt.Sprintf("adamw step %d", step)
		p.same(name+" p", pc, pg, 1e-6, 1e-9)
		p.same(name+" m", mc, mg, 1e-6, 1e-12)
		p.same(name+" v", vc, vg, 1e-6, 1e-15)
	}
	p.sameOutside("adamw p", pg, initP)
	p.sameOutside("adamw m", mg, initM)
	p.sameOutside("adamw v", vg, initV)
}

// TestAdamWZeroMoments runs the first steps from zero moments, as training
// starts, with Adam's β1 = 0 edge case and a non-default eps.
func TestAdamWZeroMoments(t *testing.T) {
	p := newPair(t, 41)
	s := kernels.Shape{optimArena}
	for _, h := range []kernels.AdamWHyper{{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, {Beta1: 0, Beta2: 0.95, Eps: 1e-6}} {
		pc, pg := p.in(s, 1)
		mc, mg := p.from(s, make([]float32, optimArena))
		vc, vg := p.from(s, make([]float32, optimArena))
		for step := 1; step <= 2; step++ {
			h.Step = step
			gc, gg := p.in(s, 1)
			p.ok(p.cpu.AdamW(pc, gc, mc, vc, optimGroups(step), h))
			p.ok(p.gpu.AdamW(pg, gg, mg, vg, optimGroups(step), h))
			name := fmt.Sprintf("adamw %+v", h)
			p.same(name+" p", pc, pg, 1e-6, 1e-9)
			p.same(name+" m", mc, mg, 1e-6, 0)
			p.same(name+" v", vc, vg, 1e-6, 0)
		}
	}
}

func TestSGDMatchesCPU(t *testing.T) {
	p := newPair(t, 42)
	s := kernels.Shape{optimArena}
	for _, h := range []kernels.SGDHyper{
		{Momentum: 0.9, Nesterov: true},
		{Momentum: 0.9, Dampening: 0.1},
		{},
	} {
		initP := p.randVals(optimArena, 1)
		initB := p.randVals(optimArena, 0.1)
		pc, pg := p.from(s, initP)
		var bc, bg kernels.Tensor
		if h.Momentum != 0 {
			bc, bg = p.from(s, initB)
		}
		for step := 1; step <= 3; step++ {
			h.First = step == 1
			gc, gg := p.in(s, 0.5)
			groups := optimGroups(step)
			p.ok(p.cpu.SGD(pc, gc, bc, groups, h))
			p.ok(p.gpu.SGD(pg, gg, bg, groups, h))
			name := fmt.Sprintf("sgd %+v step %d", h, step)
			p.same(name+" p", pc, pg, 1e-6, 1e-9)
			if h.Momentum != 0 {
				p.same(name+" buf", bc, bg, 1e-6, 1e-9)
			}
		}
		p.sameOutside(fmt.Sprintf("sgd %+v p", h), pg, initP)
		if h.Momentum != 0 {
			p.sameOutside(fmt.Sprintf("sgd %+v buf", h), bg, initB)
		}
	}
}

func TestOptimErrors(t *testing.T) {
	p := newPair(t, 43)
	s := kernels.Shape{10}
	_, pg := p.in(s, 1)
	_, g := p.in(s, 1)
	_, m := p.in(s, 1)
	_, v := p.out(s)
	_, short := p.out(kernels.Shape{9})
	hostT, _ := p.cpu.Alloc(s)
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	ok := []kernels.AdamWGroup{{Offset: 0, Len: 10, LR: 1e-3}}
	p.ok(p.gpu.Zero(v))
	p.ok(p.gpu.AdamW(pg, g, m, v, ok, h))
	wantErrors(t, []errCase{
		{"adamw short m", p.gpu.AdamW(pg, g, short, v, ok, h), kernels.ErrShape},
		{"adamw nil g", p.gpu.AdamW(pg, kernels.Tensor{}, m, v, ok, h), kernels.ErrShape},
		{"adamw host v", p.gpu.AdamW(pg, g, m, hostT, ok, h), kernels.ErrDType},
		{"adamw group past the end", p.gpu.AdamW(pg, g, m, v, []kernels.AdamWGroup{{Offset: 5, Len: 6}}, h), kernels.ErrShape},
		{"adamw negative offset", p.gpu.AdamW(pg, g, m, v, []kernels.AdamWGroup{{Offset: -1, Len: 2}}, h), kernels.ErrShape},
		{"adamw overlap", p.gpu.AdamW(pg, g, m, v, []kernels.AdamWGroup{{Offset: 0, Len: 5}, {Offset: 7, Len: 3}, {Offset: 4, Len: 2}}, h), kernels.ErrShape},
		{"sgd overlap", p.gpu.SGD(pg, g, m, []kernels.AdamWGroup{{Offset: 0, Len: 3}, {Offset: 2, Len: 2}}, kernels.SGDHyper{}), kernels.ErrShape},
		{"sgd momentum without buffer", p.gpu.SGD(pg, g, kernels.Tensor{}, ok, kernels.SGDHyper{Momentum: 0.9}), kernels.ErrShape},
		{"sgd host buffer", p.gpu.SGD(pg, g, hostT, ok, kernels.SGDHyper{Momentum: 0.9}), kernels.ErrDType},
		{"sgd short g", p.gpu.SGD(pg, short, m, ok, kernels.SGDHyper{}), kernels.ErrShape},
	})
	for name, hp := range map[string]kernels.AdamWHyper{
		"beta1 = 1": {Beta1: 1, Beta2: 0.999, Eps: 1e-8, Step: 1},
		"NaN beta2": {Beta1: 0.9, Beta2: math.NaN(), Eps: 1e-8, Step: 1},
		"eps < 0":   {Beta1: 0.9, Beta2: 0.999, Eps: -1e-8, Step: 1},
		"step 0":    {Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 0},
	} {
		if err := p.gpu.AdamW(pg, g, m, v, ok, hp); err == nil {
			t.Errorf("adamw accepted %s", name)
		}
	}
	for name, gr := range map[string]kernels.AdamWGroup{
		"negative lr": {Offset: 0, Len: 10, LR: -1e-3},
		"NaN lr":      {Offset: 0, Len: 10, LR: math.NaN()},
		"Inf wd":      {Offset: 0, Len: 10, LR: 1e-3, WeightDecay: math.Inf(1)},
	} {
		if err := p.gpu.AdamW(pg, g, m, v, []kernels.AdamWGroup{gr}, h); err == nil {
			t.Errorf("adamw accepted %s", name)
		}
		if err := p.gpu.SGD(pg, g, kernels.Tensor{}, []kernels.AdamWGroup{gr}, kernels.SGDHyper{}); err == nil {
			t.Errorf("sgd accepted %s", name)
		}
	}
	for name, hp := range map[string]kernels.SGDHyper{
		"negative momentum":       {Momentum: -0.1},
		"dampening 2":             {Momentum: 0.9, Dampening: 2},
		"Nesterov with dampening": {Momentum: 0.9, Dampening: 0.1, Nesterov: true},
		"Nesterov, no momentum":   {Nesterov: true},
	} {
		if err := p.gpu.SGD(pg, g, m, ok, hp); err == nil {
			t.Errorf("sgd accepted %s", name)
		}
	}
}

// TestOptimTableSurvivesSchedule checks that a learning rate that changes
// every step (a schedule, with layer-wise decay ratios fixed) re-uses the
// device chunk table instead of uploading a new one each step, and that the
// steps still match the CPU backend.
func TestOptimTableSurvivesSchedule(t *testing.T) {
	p := newPair(t, 9)
	const n = 20000
	pc, pg := p.in(kernels.Shape{n}, 1)
	gc, gg := p.in(kernels.Shape{n}, 1)
	mc, mg := p.from(kernels.Shape{n}, make([]float32, n))
	vc, vg := p.from(kernels.Shape{n}, make([]float32, n))
	for step := 1; step <= 3; step++ {
		lr := 1e-3 / float64(step)
		groups := []kernels.AdamWGroup{
			{Offset: 0, Len: 12000, LR: lr * 0.81, WeightDecay: 0.05},
			{Offset: 12000, Len: 8000, LR: lr, WeightDecay: 0},
		}
		h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step}
		p.ok(p.cpu.AdamW(pc, gc, mc, vc, groups, h))
		p.ok(p.gpu.AdamW(pg, gg, mg, vg, groups, h))
	}
	p.same("p", pc, pg, 1e-6, 1e-7)
	p.same("v", vc, vg, 1e-6, 0)
	if u := p.gpu.optim.uploads; u != 1 {
		t.Errorf("%d chunk-table uploads over 3 scheduled steps, want 1", u)
	}
}

// TestAdamWBF16MatchesCPU runs AdamWBF16 (adamw_bf16) against the CPU's on
// the optimizer tests' arena (a gap, a group spanning two chunks, an empty
// group, untouched elements at the end): p, m and v as in AdamW, and the
// bf16 copy p16 the rounding of the updated p bit for bit (within one
// bf16 ulp of the CPU's) inside the groups and unchanged (NaN) outside.
func TestAdamWBF16MatchesCPU(t *testing.T) {
	p := newPair(t, 42)
	s := kernels.Shape{optimArena}
	initP := p.randVals(optimArena, 1)
	pc, pg := p.from(s, initP)
	mc, mg := p.from(s, make([]float32, optimArena))
	vc, vg := p.from(s, make([]float32, optimArena))
	lc, lg := p.out16(s) // NaN on the device
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for step := 1; step <= 2; step++ {
		h.Step = step
		gc, gg := p.in(s, 0.1)
		p.ok(p.cpu.AdamWBF16(pc, gc, mc, vc, lc, optimGroups(step), h))
		p.ok(p.gpu.AdamWBF16(pg, gg, mg, vg, lg, optimGroups(step), h))
		name := fmt.Sprintf("adamw-bf16 step %d", step)
		p.same(name+" p", pc, pg, 1e-6, 1e-9)
		p.same(name+" m", mc, mg, 1e-6, 1e-12)
		p.same(name+" v", vc, vg, 1e-6, 1e-15)
		got, updated := make([]float32, optimArena), make([]float32, optimArena)
		p.ok(p.gpu.Download(got, lg))
		p.ok(p.gpu.Download(updated, pg))
		for i, v := range got {
			if outside(i) && v == v {
				t.Fatalf("%s p16[%d] outside every group was written (%v)", name, i, v)
			}
			if !outside(i) && v != bfloat16.Round(updated[i]) {
				t.Fatalf("%s p16[%d] = %v, want bf16(%v) = %v", name, i, v, updated[i], bfloat16.Round(updated[i]))
			}
		}
		for i, w := range hostValues(lc) {
			if !outside(i) && bfloat16.ULPs(got[i], w) > 1 {
				t.Fatalf("%s p16[%d] = %v, CPU %v", name, i, got[i], w)
			}
		}
	}
	p.sameOutside("adamw-bf16 p", pg, initP)
	_, p32 := p.out(s)
	if err := p.gpu.AdamWBF16(pg, pg, mg, vg, p32, optimGroups(1), h); !errors.Is(err, kernels.ErrDType) {
		t.Errorf("float32 p16: %v, want ErrDType", err)
	}
}
