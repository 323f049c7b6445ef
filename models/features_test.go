package models

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestFeaturesGolden loads the formula's weights into convnext_tiny and
// resnet50 and matches Features(x, [0 1 2 3]) against timm's
// features_only=True outputs (scripts/golden/resnet.py: out_indices (0, 1,
// 2, 3) for ConvNeXt, (1, 2, 3, 4) for ResNet) on a [1, 3, 32, 48] input,
// within 1e-4 relative on the float32 CPU backend (plus 1e-5 of the
// feature's largest value) and 2e-7 on the float64 one (the golden file
// stores float32, rounded at 6e-8 relative); the shapes follow
// FeatureInfo. A subset ([1 3]) returns the same tensors.
func TestFeaturesGolden(t *testing.T) {
	for _, tc := range []struct {
		be         kernels.Backend
		rtol, atol float64
	}{{cpu.New(), 1e-4, 1e-5}, {cpu.New64(), 2e-7, 1e-12}} {
		for _, name := range []string{"convnext_tiny", "resnet50"} {
			t.Run(name+"/"+tc.be.Name(), func(t *testing.T) {
				golden, gain, in := readFeatureGolden(t, name)
				c, err := Variant(name)
				if err != nil {
					t.Fatal(err)
				}
				m, err := New(tc.be, c, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := loadFormula(m, gain); err != nil {
					t.Fatal(err)
				}
				m.SetTraining(false)
				x := formulaInput(t, tc.be, in)
				feats, err := m.Features(x, []int{0, 1, 2, 3})
				if err != nil {
					t.Fatal(err)
				}
				info := m.FeatureInfo()
				for i, f := range feats {
					g := golden[i]
					if g.Name != fmt.Sprintf("features.%d", i) || !f.Shape.Equal(kernels.Shape(g.Shape)) {
						t.Fatalf("feature %d: model %v, timm %s %v", i, f.Shape, g.Name, g.Shape)
					}
					if want := (kernels.Shape{in[0], ceilDiv(in[2], info[i].Reduction), ceilDiv(in[3], info[i].Reduction), info[i].Channels}); name == "resnet50" && !f.Shape.Equal(want) {
						t.Errorf("feature %d shape %v, FeatureInfo says %v", i, f.Shape, want)
					}
					matchFeature(t, tc.be, name, f, g, tc.rtol, tc.atol)
				}
				sub, err := m.Features(x, []int{1, 3})
				if err != nil {
					t.Fatal(err)
				}
				if len(sub) != 2 || !sub[0].Shape.Equal(feats[1].Shape) || !sub[1].Shape.Equal(feats[3].Shape) {
					t.Errorf("Features(x, [1 3]) gave %d tensors", len(sub))
				}
			})
		}
	}
}

// readFeatureGolden reads testdata/golden/features/<name>.safetensors:
// timm's feature maps features.0 … features.3, the formula's gain and the
// input shape [N, C, H, W].
func readFeatureGolden(t *testing.T, name string) (golden []Tensor, gain float64, input []int) {
	t.Helper()
	golden, meta, err := ReadSafetensors(filepath.Join("testdata", "golden", "features", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if gain, err = strconv.ParseFloat(meta["gain"], 64); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(meta["input"]), &input); err != nil {
		t.Fatal(err)
	}
	return golden, gain, input
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// matchFeature compares feature f of model name on be with timm's golden
// tensor g (NHWC float32) within rtol relative plus atol times the golden
// feature's largest magnitude.
func matchFeature(t *testing.T, be kernels.Backend, name string, f kernels.Tensor, g Tensor, rtol, atol float64) {
	t.Helper()
	want := make([]float64, len(g.Data))
	peak := 0.0
	for j, v := range g.Data {
		want[j] = float64(v)
		peak = max(peak, math.Abs(want[j]))
	}
	testutil.AllClose(t, name+" "+g.Name, hostValues(t, be, f), want, rtol, atol*peak)
}

// loadFormula sets every parameter and buffer of m to the golden formula's
// values for its name under timm's shape (the model's shape with BatchNorm's
// num_batches_tracked as a scalar).
func loadFormula(m *Model, gain float64) error {
	var ts []Tensor
	for _, p := range m.State() {
		shape := []int(p.Shape())
		ts = append(ts, Tensor{Name: p.Name, Shape: shape, Data: testutil.FormulaFill(p.Name, shape, gain)})
	}
	return m.LoadTensors("formula", ts)
}

// TestFeaturesErrors checks that bad stage lists are refused, naming them.
func TestFeaturesErrors(t *testing.T) {
	c, _ := Variant("atto")
	m, err := New(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := m.Backend.Alloc(kernels.Shape{1, 32, 32, 3})
	for _, s := range [][]int{nil, {-1}, {4}, {1, 1}, {2, 1}} {
		if _, err := m.Features(x, s); err == nil {
			t.Errorf("stages %v accepted", s)
		}
	}
	if _, err := m.Features(x, []int{0}); err != nil {
		t.Errorf("stages [0]: %v", err)
	}
}
