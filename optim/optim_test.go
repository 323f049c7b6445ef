package optim

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
)

// TestScheduleMatchesPyTorch compares Cosine with the learning rates
// PyTorch 1.13's schedulers set step by step (scripts/golden/schedule.py):
// CosineAnnealingLR without warmup, SequentialLR(LinearLR, CosineAnnealingLR)
// with it.
func TestScheduleMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Name          string
			Base, Min     float64
			Warmup, Total int
			LR            []float64
		}
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range golden.Cases {
		s := Cosine{Base: c.Base, Min: c.Min, Warmup: c.Warmup, Total: c.Total}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, c.Total)
		for i := range got {
			got[i] = s.At(i)
		}
		// LinearLR cannot start at exactly 0 (start_factor 1e-12), hence the atol.
		testutil.AllClose(t, c.Name, got, c.LR, 1e-12, 2e-12*c.Base)
	}
	if err := (Cosine{Base: 1e-3, Warmup: 5, Total: 5}).Validate(); err == nil {
		t.Error("warmup as long as the run accepted")
	}
}

// arena builds a small block's parameters in an arena on be.
func arena(t *testing.T, be kernels.Backend) *layers.Arena {
	t.Helper()
	b, err := layers.NewBlock(be, "stages.0.blocks.0", layers.V2Block(4, 0), testutil.NewRand(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := layers.NewArena(be, b.Params())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGroups checks that weight decay reaches only parameters with Decay
// set and that neighbours sharing a scale and decay merge into one group.
func TestGroups(t *testing.T) {
	be := cpu.New()
	a := arena(t, be)
	scale := func(name string) float64 {
		if name == "stages.0.blocks.0.mlp.fc2.weight" {
			return 0.5
		}
		return 1
	}
	o, err := New(be, a, DefaultConfig(), scale)
	if err != nil {
		t.Fatal(err)
	}
	// conv_dw.weight (decay) | conv_dw.bias, norm.* (none) | fc1.weight | fc1.bias, grn.* | fc2.weight (×0.5) | fc2.bias;
	// a group spans the padding between its parameters (each starts at a
	// multiple of layers.ArenaAlign = 8): conv_dw.bias 4 + 4, norm.weight
	// 4 + 4, norm.bias 4.
	gs := o.Groups(2)
	want := []struct {
		lr, wd float64
		n      int
	}{{2, 0.05, 4 * 49}, {2, 0, 5 * 4}, {2, 0.05, 16 * 4}, {2, 0, 16 + 32}, {1, 0.05, 4 * 16}, {2, 0, 4}}
	if len(gs) != len(want) {
		t.Fatalf("%d groups %+v, want %d", len(gs), gs, len(want))
	}
	off := 0
	for i, g := range gs {
		off = layers.AlignUp(off)
		if g.LR != want[i].lr || g.WeightDecay != want[i].wd || g.Len != want[i].n || g.Offset != off {
			t.Errorf("group %d = %+v, want lr %v wd %v len %d at %d", i, g, want[i].lr, want[i].wd, want[i].n, off)
		}
		off += g.Len
	}
	if layers.AlignUp(off) != a.Len() {
		t.Errorf("groups cover %d of %d elements", off, a.Len())
	}
}

// TestClipGradNorm checks torch.nn.utils.clip_grad_norm_'s rule.
func TestClipGradNorm(t *testing.T) {
	be := cpu.New64()
	a := arena(t, be)
	g := a.Grads.Host64()
	for i := range g {
		g[i] = 0.01 * float64(i%7-3)
	}
	ss := 0.0
	for _, v := range g {
		ss += v * v
	}
	norm := math.Sqrt(ss)
	before := append([]float64(nil), g...)
	c := DefaultConfig()
	c.ClipGrad = norm / 4
	o, err := New(be, a, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.ClipGradNorm()
	if err != nil || math.Abs(got-norm) > 1e-12*norm {
		t.Fatalf("norm %v (%v), want %v", got, err, norm)
	}
	coef := c.ClipGrad / (norm + 1e-6)
	for i := range g {
		if math.Abs(g[i]-before[i]*coef) > 1e-15 {
			t.Fatalf("grad[%d] = %v, want %v", i, g[i], before[i]*coef)
		}
	}
	c.ClipGrad = 10 * norm // no clipping below the limit
	o, _ = New(be, a, c, nil)
	copy(g, before)
	o.ClipGradNorm()
	testutil.AllClose(t, "unclipped", g, before, 0, 0)
}

// TestEMA checks the average's arithmetic and that Swap is an exchange.
func TestEMA(t *testing.T) {
	be := cpu.New64()
	a := arena(t, be)
	w := a.Values.Host64()
	start := append([]float64(nil), w...)
	e, err := NewEMA(be, a, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w {
		w[i] += 1
	}
	trained := append([]float64(nil), w...)
	if err := e.Update(); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(w))
	for i := range want {
		want[i] = 0.9*start[i] + 0.1*trained[i]
	}
	testutil.AllClose(t, "ema", e.Weights().Host64(), want, 1e-15, 1e-15)
	avg := append([]float64(nil), e.Weights().Host64()...)
	if err := e.Swap(); err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "swapped in", w, avg, 0, 0)
	e.Swap()
	testutil.AllClose(t, "swapped back", w, trained, 0, 0)
	if _, err := NewEMA(be, a, 1.5); err == nil {
		t.Error("decay 1.5 accepted")
	}
}

// TestStepAndErrors checks a step changes the weights, SGD too, and bad
// settings are refused.
func TestStepAndErrors(t *testing.T) {
	be := cpu.New()
	for _, name := range []string{"adamw", "sgd"} {
		a := arena(t, be)
		for i := range a.Grads.Host32() {
			a.Grads.Host32()[i] = 0.1
		}
		before := append([]float32(nil), a.Values.Host32()...)
		c := DefaultConfig()
		c.Name = name
		o, err := New(be, a, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Step(1e-2); err != nil {
			t.Fatal(err)
		}
		if o.Steps() != 1 || a.Values.Host32()[0] == before[0] {
			t.Errorf("%s: step did not move the weights", name)
		}
	}
	a := arena(t, be)
	for _, c := range []Config{{Name: "lamb"}, {Name: "adamw", Beta1: 1, Beta2: 0.9, Eps: 1e-8}, {Name: "sgd", Nesterov: true}} {
		if _, err := New(be, a, c, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	o, _ := New(be, a, DefaultConfig(), nil)
	if err := o.Step(math.NaN()); err == nil {
		t.Error("NaN learning rate accepted")
	}
}
