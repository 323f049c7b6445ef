package qat_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// tinyModel is a ConvNeXt V2 with Atto's structure at toy widths.
func tinyModel(t *testing.T, be kernels.Backend, seed uint64) *models.Model {
	t.Helper()
	cfg, err := models.Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dims, cfg.Depths = []int{8, 16, 24, 32}, []int{1, 1, 2, 1}
	cfg.NumClasses, cfg.InChans, cfg.DropPath = 5, 1, 0
	m, err := models.New(be, cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestQuantizeModel wraps a tiny ConvNeXt V2 with the default W8A8 config
// and checks what got wrapped (every conv and linear but the stem conv and
// the head; never LayerNorm, GELU or GRN), that a second call wraps
// nothing, that the quantized network runs forward and backward close to
// the float one, that Describe still walks it, and that the quantizer
// state restores a second model to bit-identical outputs.
func TestQuantizeModel(t *testing.T) {
	be := cpu.New()
	m := tinyModel(t, be, 1)
	x := qTensor(t, be, kernels.Shape{2, 32, 32, 1}, testutil.Rand(testutil.NewRand(3), 2*32*32, 1))
	ref, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	yFloat := slices.Clone(ref.Host32())
	nParams := len(m.Net.Params())
	floatKinds := func() (n int) {
		layers.Walk(m.Net, func(l layers.Layer) {
			switch l.(type) {
			case *layers.LayerNorm, *layers.GELU, *layers.GRN:
				n++
			}
		})
		return n
	}
	nFloat := floatKinds()

	qs, err := qat.QuantizeModel(be, m.Net, qat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name())
	}
	var want []string
	for i, d := range []int{1, 1, 2, 1} {
		if i > 0 {
			want = append(want, fmt.Sprintf("stages.%d.downsample.1", i))
		}
		for j := range d {
			b := fmt.Sprintf("stages.%d.blocks.%d", i, j)
			want = append(want, b+".conv_dw", b+".mlp.fc1", b+".mlp.fc2")
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("wrapped %v,\nwant %v", names, want)
	}
	if n := floatKinds(); n != nFloat || n == 0 {
		t.Errorf("%d LayerNorm, GELU and GRN layers before wrapping, %d after", nFloat, n)
	}
	layers.Walk(m.Net, func(l layers.Layer) {
		if q, ok := l.(*qat.Quantized); ok && q.Input == nil {
			t.Errorf("%s: no input quantizer under W8A8", q.Name())
		}
	})
	if again, err := qat.QuantizeModel(be, m.Net, qat.DefaultConfig()); err != nil || len(again) != 0 {
		t.Errorf("second QuantizeModel: %d new wrappers, error %v; want 0, nil", len(again), err)
	}
	if n := len(m.Net.Params()); n != nParams {
		t.Errorf("quantizing without LSQ changed the parameter count %d → %d", nParams, n)
	}

	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	// int8 weights and activations: the logits move, but by around a
	// percent of their scale, not more.
	maxAbs, maxDiff := 0.0, 0.0
	for i, v := range y.Host32() {
		maxAbs = math.Max(maxAbs, math.Abs(float64(yFloat[i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(v-yFloat[i])))
	}
	t.Logf("quantized vs float logits: max diff %.3g, logit scale %.3g", maxDiff, maxAbs)
	if maxDiff == 0 || maxDiff > 0.05*maxAbs {
		t.Errorf("quantized logits differ from float by %.3g (logit scale %.3g); want 0 < diff <= 5%%", maxDiff, maxAbs)
	}
	if err := m.Arena.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	dl := qTensor(t, be, y.Shape, testutil.Rand(testutil.NewRand(4), y.Len(), 1))
	if err := m.Backward(dl); err != nil {
		t.Fatal(err)
	}
	// every wrapped weight received a gradient through its STE
	for _, q := range qs {
		g := q.Layer.Params()[0].Grad.Host32()
		if slices.Max(g) == 0 && slices.Min(g) == 0 {
			t.Errorf("%s: weight gradient is all zero", q.Name())
		}
	}
	rows, err := m.Describe(2, 32, 32, 4)
	if err != nil {
		t.Fatal(err)
	}
	linear := 0
	for _, r := range rows {
		if r.Kind == "Linear" {
			linear++
		}
	}
	if linear != 2*5+1 {
		t.Errorf("Describe lists %d Linear layers, want 11", linear)
	}

	// state round trip: a second model with the same weights, quantized
	// and loaded with the first one's state, computes the same logits.
	qat.FreezeObservers(qs)
	st := qat.State(qs)
	m2 := tinyModel(t, be, 1)
	qs2, err := qat.QuantizeModel(be, m2.Net, qat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := qat.LoadState(qs2, st); err != nil {
		t.Fatal(err)
	}
	y1, _ := m.Forward(x)
	y2, err := m2.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "logits after loading the quantizer state", y2.Host32(), y1.Host32(), 0, 0)
	for _, f := range qat.FakeQuants(qs2) {
		if f.ObserverEnabled() {
			t.Errorf("%s: observer enabled after loading a frozen state", f.Name())
		}
	}

	// skip list: whole stage 0 in float; weights only
	m3 := tinyModel(t, be, 1)
	cfg := qat.DefaultConfig()
	cfg.Skip = append(cfg.Skip, "stages.0")
	cfg.Inputs = false
	qs3, err := qat.QuantizeModel(be, m3.Net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs3) != len(qs)-3 || qs3[0].Name() != "stages.1.downsample.1" || qs3[0].Input != nil {
		t.Errorf("skipping stages.0 without inputs: %d wrappers starting at %s (input %v)", len(qs3), qs3[0].Name(), qs3[0].Input)
	}
}

// TestQuantizeModelLSQ checks that LSQ quantizers add their scales to the
// parameter list, and that an arena rebuilt over them trains them.
func TestQuantizeModelLSQ(t *testing.T) {
	be := cpu.New()
	m := tinyModel(t, be, 2)
	cfg := qat.DefaultConfig()
	cfg.Weight.LSQ, cfg.Input.LSQ = true, true
	qs, err := qat.QuantizeModel(be, m.Net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Net.Params()
	extra := 0
	for _, f := range qat.FakeQuants(qs) {
		extra += len(f.Params())
	}
	if extra != 2*len(qs) || len(ps) != len(m.Arena.Params)+extra {
		t.Fatalf("%d params with LSQ (%d quantizer params), arena had %d", len(ps), extra, len(m.Arena.Params))
	}
	arena, err := layers.NewArena(be, ps)
	if err != nil {
		t.Fatal(err)
	}
	x := qTensor(t, be, kernels.Shape{2, 32, 32, 1}, testutil.Rand(testutil.NewRand(5), 2*32*32, 1))
	if _, err := m.Forward(x); err != nil { // static estimate
		t.Fatal(err)
	}
	qat.FreezeObservers(qs)
	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := arena.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(qTensor(t, be, y.Shape, testutil.Rand(testutil.NewRand(6), y.Len(), 1))); err != nil {
		t.Fatal(err)
	}
	for _, f := range qat.FakeQuants(qs) {
		if f.Scale.Grad.Host32()[0] == 0 {
			t.Errorf("%s: LSQ scale gradient is 0", f.Name())
		}
		if _, _, err := f.QParams(); err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
	}
}
