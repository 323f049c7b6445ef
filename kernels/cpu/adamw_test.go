package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// refAdamW is a direct float64 transcription of PyTorch 1.13's
// _single_tensor_adamw for one element range.
func refAdamW(p, g, m, v []float64, lr, wd float64, h kernels.AdamWHyper) {
	t := float64(h.Step)
	bc1 := 1 - math.Pow(h.Beta1, t)
	bc2 := 1 - math.Pow(h.Beta2, t)
	for i := range p {
		p[i] *= 1 - lr*wd
		m[i] = m[i]*h.Beta1 + (1-h.Beta1)*g[i]
		v[i] = v[i]*h.Beta2 + (1-h.Beta2)*g[i]*g[i]
		denom := math.Sqrt(v[i])/math.Sqrt(bc2) + h.Eps
		p[i] -= (lr / bc1) * m[i] / denom
	}
}

func TestAdamWMatchesPyTorch(t *testing.T) {
	// Golden values from torch.optim.AdamW (PyTorch 1.13, float64,
	// foreach=False): testdata/adamw_golden.py.
	p0 := []float64{0.6613521715704522, 0.2669240982925188, 0.061677258237348306, 0.6213173286854216, -0.45190596470388295, -0.16613023453557194}
	g1 := []float64{-1.5227684840130555, 0.38168390241818895, -1.0276085758313882, -0.5630527986537884, -0.8922905087810341, -0.05825017908369636}
	g2 := []float64{-0.19550957739962468, -0.9656359311683427, 0.42241532118215536, 0.26731699794736563, -0.4211951567546136, -0.5106999992831965}
	g3 := []float64{-1.5726652135630592, -0.1232477576203296, 3.586989310317374, -1.8312901364228844, 1.5987003148762056, -1.27700703480527}
	wantP := []float64{0.9127637260689225, 0.2500631858079957, 0.139923479598968, 0.807097666923328, -0.3992657984986096, -0.08683713527364412}
	wantM := []float64{-0.2982066305273296, -0.06831561347131047, 0.31348001529578884, -0.20467776051798237, 0.04968693616844157, -0.17838196792179406}
	wantV := []float64{0.004825650171826941, 0.001092101690415278, 0.014098617063528333, 0.003741405196966124, 0.003527661435037699, 0.0018946869423103784}
	b := New64()
	p, m, v := newT(t, b, kernels.Shape{6}, p0), newT(t, b, kernels.Shape{6}, nil), newT(t, b, kernels.Shape{6}, nil)
	groups := []kernels.AdamWGroup{{Offset: 0, Len: 4, LR: 0.1, WeightDecay: 0.05}, {Offset: 4, Len: 2, LR: 0.03}}
	for step, g := range [][]float64{g1, g2, g3} {
		h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step + 1}
		must(t, b.AdamW(p, newT(t, b, kernels.Shape{6}, g), m, v, groups, h))
	}
	testutil.AllClose(t, "adamw p vs PyTorch", vals(p), wantP, 1e-14, 1e-15)
	testutil.AllClose(t, "adamw m vs PyTorch", vals(m), wantM, 1e-14, 1e-15)
	testutil.AllClose(t, "adamw v vs PyTorch", vals(v), wantV, 1e-14, 1e-15)
}

func TestAdamWSteps(t *testing.T) {
	// Several steps with three groups (one without weight decay) and
	// elements outside every group, against refAdamW; the float64 backend
	// must agree to rounding, the float32 one to float32 precision.
	const n = 3000
	groups := []kernels.AdamWGroup{
		{Offset: 2000, Len: 500, LR: 3e-3, WeightDecay: 0}, // out of order on purpose
		{Offset: 0, Len: 1500, LR: 1e-2, WeightDecay: 0.05},
		{Offset: 2600, Len: 397, LR: 1e-2, WeightDecay: 0.1},
		{Offset: 1700, Len: 0, LR: 1, WeightDecay: 1}, // empty
	}
	inGroup := make([]bool, n)
	for _, gr := range groups {
		for i := gr.Offset; i < gr.Offset+gr.Len; i++ {
			inGroup[i] = true
		}
	}
	for _, b := range backends() {
		p0 := randVals(191, n, 1)
		m0 := randVals(192, n, 0.1)
		v0 := randVals(193, n, 0.01)
		for i := range v0 {
			v0[i] = math.Abs(v0[i])
		}
		p, m, v := newT(t, b, kernels.Shape{n}, p0), newT(t, b, kernels.Shape{n}, m0), newT(t, b, kernels.Shape{n}, v0)
		rp, rm, rv := append([]float64(nil), p0...), append([]float64(nil), m0...), append([]float64(nil), v0...)
		for step := 1; step <= 6; step++ {
			gv := randVals(200+uint64(step), n, 1)
			h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step}
			must(t, b.AdamW(p, newT(t, b, kernels.Shape{n}, gv), m, v, groups, h))
			for _, gr := range groups {
				lo, hi := gr.Offset, gr.Offset+gr.Len
				refAdamW(rp[lo:hi], gv[lo:hi], rm[lo:hi], rv[lo:hi], gr.LR, gr.WeightDecay, h)
			}
		}
		rtol := 1e-13
		if b.DType() == kernels.Float32 {
			rtol = 2e-6
		}
		testutil.AllClose(t, b.Name()+" adamw p", vals(p), rp, rtol, rtol*1e-2)
		testutil.AllClose(t, b.Name()+" adamw m", vals(m), rm, rtol, rtol*1e-2)
		testutil.AllClose(t, b.Name()+" adamw v", vals(v), rv, rtol, rtol*1e-4)
		pv, mv, vv := vals(p), vals(m), vals(v)
		for i := range n {
			if !inGroup[i] && (pv[i] != p0[i] || mv[i] != m0[i] || vv[i] != v0[i]) {
				t.Fatalf("%s: element %d outside every group changed", b.Name(), i)
			}
		}
	}
}

func TestAdamWErrors(t *testing.T) {
	b := New()
	p, g, m, v := newT(t, b, kernels.Shape{10}, nil), newT(t, b, kernels.Shape{10}, nil), newT(t, b, kernels.Shape{10}, nil), newT(t, b, kernels.Shape{10}, nil)
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	ok := []kernels.AdamWGroup{{Offset: 0, Len: 10, LR: 1e-3}}
	must(t, b.AdamW(p, g, m, v, ok, h))
	wantErr(t, "short m", b.AdamW(p, g, newT(t, b, kernels.Shape{9}, nil), v, ok, h), kernels.ErrShape, "cpu adamw", "m", "[9]", "[10]")
	wantErr(t, "nil g", b.AdamW(p, kernels.Tensor{}, m, v, ok, h), kernels.ErrShape, "g is missing")
	wantErr(t, "float64 v", b.AdamW(p, g, m, newT(t, New64(), kernels.Shape{10}, nil), ok, h), kernels.ErrDType, "v")
	for name, groups := range map[string][]kernels.AdamWGroup{
		"past the end":    {{Offset: 5, Len: 6, LR: 1e-3}},
		"negative offset": {{Offset: -1, Len: 2, LR: 1e-3}},
		"negative length": {{Offset: 2, Len: -2, LR: 1e-3}},
		"overlap":         {{Offset: 0, Len: 5, LR: 1e-3}, {Offset: 7, Len: 3, LR: 1e-3}, {Offset: 4, Len: 2, LR: 1e-3}},
	} {
		wantErr(t, "groups "+name, b.AdamW(p, g, m, v, groups, h), kernels.ErrShape, "cpu adamw", "group")
	}
	for name, hp := range map[string]kernels.AdamWHyper{
		"beta1 = 1": {Beta1: 1, Beta2: 0.999, Eps: 1e-8, Step: 1},
		"beta2 < 0": {Beta1: 0.9, Beta2: -0.1, Eps: 1e-8, Step: 1},
		"NaN beta2": {Beta1: 0.9, Beta2: math.NaN(), Eps: 1e-8, Step: 1},
		"eps < 0":   {Beta1: 0.9, Beta2: 0.999, Eps: -1e-8, Step: 1},
		"step 0":    {Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 0},
		"Inf eps":   {Beta1: 0.9, Beta2: 0.999, Eps: math.Inf(1), Step: 1},
	} {
		if err := b.AdamW(p, g, m, v, ok, hp); err == nil {
			t.Errorf("adamw accepted %s", name)
		}
	}
	for name, gr := range map[string]kernels.AdamWGroup{
		"negative lr": {Offset: 0, Len: 10, LR: -1e-3},
		"NaN lr":      {Offset: 0, Len: 10, LR: math.NaN()},
		"Inf wd":      {Offset: 0, Len: 10, LR: 1e-3, WeightDecay: math.Inf(1)},
	} {
		if err := b.AdamW(p, g, m, v, []kernels.AdamWGroup{gr}, h); err == nil {
			t.Errorf("adamw accepted %s", name)
		}
	}
}
