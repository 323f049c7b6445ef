package models

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// goldenTensors returns the golden file's state dict filled by the formula:
// every tensor under timm's name and shape (num_batches_tracked as 0).
func goldenTensors(g testutil.EfficientGolden) []Tensor {
	out := make([]Tensor, len(g.Tensors))
	for i, e := range g.Tensors {
		out[i] = Tensor{Name: e.Name, Shape: e.Shape, Data: g.Values(e)}
	}
	return out
}

// TestEfficientGolden builds each of timm's four efficient baselines, checks
// every state-dict name and shape in timm's order against the golden file,
// loads the formula's weights by name and matches timm's logits (computed in
// float64 by scripts/golden/efficient.py): on the float32 CPU backend within
// 1e-4 of the largest logit's magnitude (EfficientNet-B0's formula weights
// amplify float32 rounding through its 16 blocks, so logits near zero carry
// a few 1e-4 of absolute noise), and on the float64 CPU backend within 1e-9
// relative, which leaves no room for a wrong op.
func TestEfficientGolden(t *testing.T) {
	for _, tc := range []struct {
		be         kernels.Backend
		rtol, atol float64 // atol is scaled by the largest |logit|
	}{{cpu.New(), 1e-4, 1e-4}, {cpu.New64(), 1e-9, 1e-12}} {
		for _, name := range []string{"efficientnet_b0", "efficientnetv2_rw_t", "mobilenetv4_conv_small", "mobilenetv4_conv_medium"} {
			t.Run(name+"/"+tc.be.Name(), func(t *testing.T) { testEfficientGolden(t, tc.be, name, tc.rtol, tc.atol) })
		}
	}
}

// testEfficientGolden is TestEfficientGolden for one model on be.
func testEfficientGolden(t *testing.T, be kernels.Backend, name string, rtol, atol float64) {
	g := loadEfficientGolden(t, name)
	arch, err := EfficientPreset(name, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewEfficientNet(be, arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != g.Params {
		t.Errorf("%d params, timm has %d", m.NumParams(), g.Params)
	}
	want := goldenTensors(g)
	got := m.StateTensors()
	for i := range max(len(got), len(want)) {
		var gs, ws string
		if i < len(got) {
			gs = fmt.Sprintf("%s %v", got[i].Name, got[i].Shape())
		}
		if i < len(want) {
			ws = fmt.Sprintf("%s %v", want[i].Name, kernels.Shape(want[i].Shape))
		}
		if gs != ws && !(i < len(got) && i < len(want) && got[i].Name == want[i].Name && sameSqueezed(want[i].Shape, got[i].Shape())) {
			t.Fatalf("state dict entry %d: model %q, timm %q", i, gs, ws)
		}
	}
	if err := m.LoadTensors(name, want); err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	for _, in := range g.Inputs {
		n, c, h, w := in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
		x, err := be.Alloc(kernels.Shape{n, h, w, c})
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Upload(x, NCHWToNHWC(testutil.FormulaInput("input", n*c*h*w), n, c, h, w)); err != nil {
			t.Fatal(err)
		}
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		peak := 0.0
		for _, v := range in.Logits {
			peak = max(peak, math.Abs(v))
		}
		what := fmt.Sprintf("%s logits %v", name, in.Shape)
		if be.DType() == kernels.Float64 {
			testutil.AllClose(t, what, y.Host64(), in.Logits, rtol, atol*peak)
		} else {
			testutil.AllClose(t, what, y.Host32(), in.Logits, rtol, atol*peak)
		}
	}
}
