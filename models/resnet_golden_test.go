package models

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestResNetGolden builds resnet50 and resnext50_32x4d from their presets,
// and the ConvNeXt roadmap's last step (roadmap_12_convnext_tiny) against
// timm's convnext_tiny, checks that the model's parameters and buffers are
// exactly timm's state dict (every name and shape, the golden file's list),
// loads the formula's weights by name and matches timm's float64 logits
// (scripts/golden/resnet.py) for a [2, 3, 64, 64] input: within 1e-4
// relative on the float32 CPU backend (plus 1e-5 of the largest logit for
// logits near zero), within 1e-9 on the float64 one.
func TestResNetGolden(t *testing.T) {
	for _, tc := range []struct {
		be         kernels.Backend
		rtol, atol float64
	}{{cpu.New(), 1e-4, 1e-5}, {cpu.New64(), 1e-9, 1e-12}} {
		for name, golden := range map[string]string{"resnet50": "resnet/resnet50", "resnext50_32x4d": "resnet/resnext50_32x4d",
			"roadmap_12_convnext_tiny": "roadmap/convnext_tiny"} {
			t.Run(name+"/"+tc.be.Name(), func(t *testing.T) {
				g, err := testutil.LoadEfficientGolden(filepath.Join("testdata", "golden", golden+".json"))
				if err != nil {
					t.Fatal(err)
				}
				c, err := Variant(name)
				if err != nil {
					t.Fatal(err)
				}
				m, err := New(tc.be, c, 1)
				if err != nil {
					t.Fatal(err)
				}
				if m.NumParams() != g.Params {
					t.Errorf("%d params, timm has %d", m.NumParams(), g.Params)
				}
				want := goldenTensors(g)
				have := map[string]kernels.Shape{}
				for _, p := range m.State() {
					have[p.Name] = p.Shape()
				}
				for _, w := range want { // num_batches_tracked: timm's [], the model's [1]
					if s, ok := have[w.Name]; !ok || !sameSqueezed(w.Shape, s) {
						t.Errorf("timm's %s %v: model has %v", w.Name, w.Shape, s)
					}
				}
				if len(have) != len(want) {
					t.Fatalf("model has %d tensors, timm %d", len(have), len(want))
				}
				if err := m.LoadTensors(name, want); err != nil {
					t.Fatal(err)
				}
				m.SetTraining(false)
				in := g.Inputs[0]
				y := forwardFormulaInput(t, m, in.Shape)
				peak := 0.0
				for _, v := range in.Logits {
					peak = max(peak, math.Abs(v))
				}
				testutil.AllClose(t, fmt.Sprintf("%s logits %v", name, in.Shape), y, in.Logits, tc.rtol, tc.atol*peak)
			})
		}
	}
}

// forwardFormulaInput runs m on the formula input of NCHW shape s and
// returns its output in float64.
func forwardFormulaInput(t *testing.T, m *Model, s []int) []float64 {
	t.Helper()
	x := formulaInput(t, m.Backend, s)
	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	return hostValues(t, m.Backend, y)
}

// formulaInput uploads FormulaInput("input", ...) of NCHW shape s as NHWC.
func formulaInput(t *testing.T, be kernels.Backend, s []int) kernels.Tensor {
	t.Helper()
	n, c, h, w := s[0], s[1], s[2], s[3]
	x, err := be.Alloc(kernels.Shape{n, h, w, c})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Upload(x, NCHWToNHWC(testutil.FormulaInput("input", n*c*h*w), n, c, h, w)); err != nil {
		t.Fatal(err)
	}
	return x
}

// hostValues returns t's values in float64.
func hostValues(t *testing.T, be kernels.Backend, y kernels.Tensor) []float64 {
	t.Helper()
	v := make([]float32, y.Len())
	if be.DType() == kernels.Float64 {
		return append([]float64(nil), y.Host64()...)
	}
	if err := be.Download(v, y); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}
