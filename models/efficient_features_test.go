package models

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestEfficientFeaturesGolden loads the formula's weights into
// efficientnet_b0 and mobilenetv4_conv_small and matches Features(x, [0 1
// 2 3 4]) against timm's features_only=True outputs with its default
// out_indices (scripts/golden/resnet.py) on a [1, 3, 32, 48] input: within
// 1e-4 relative on the float32 CPU backend (plus 1e-5 of the feature's
// largest value) and 2e-7 on the float64 one (the golden file stores
// float32). The channels and reductions of FeatureInfo are timm's
// feature_info, the shapes follow them, and a subset ([1 4]) returns the
// same tensors.
func TestEfficientFeaturesGolden(t *testing.T) {
	info := map[string][]FeatureInfo{
		"efficientnet_b0":        {{0, 16, 2}, {1, 24, 4}, {2, 40, 8}, {4, 112, 16}, {6, 320, 32}},
		"mobilenetv4_conv_small": {{-1, 32, 2}, {0, 32, 4}, {1, 64, 8}, {2, 96, 16}, {4, 960, 32}},
	}
	for _, tc := range []struct {
		be         kernels.Backend
		rtol, atol float64
	}{{cpu.New(), 1e-4, 1e-5}, {cpu.New64(), 2e-7, 1e-12}} {
		for _, name := range []string{"efficientnet_b0", "mobilenetv4_conv_small"} {
			t.Run(name+"/"+tc.be.Name(), func(t *testing.T) {
				golden, meta, err := ReadSafetensors(filepath.Join("testdata", "golden", "features", name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				g := loadEfficientGolden(t, name)
				if gain, err := strconv.ParseFloat(meta["gain"], 64); err != nil || gain != g.Gain {
					t.Fatalf("features file gain %q, logits file %v", meta["gain"], g.Gain)
				}
				var in []int
				if err := json.Unmarshal([]byte(meta["input"]), &in); err != nil {
					t.Fatal(err)
				}
				arch, err := EfficientPreset(name, 1000, 0)
				if err != nil {
					t.Fatal(err)
				}
				m, err := NewEfficientNet(tc.be, arch, 1)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.FeatureInfo(); fmt.Sprint(got) != fmt.Sprint(info[name]) {
					t.Errorf("FeatureInfo %v, timm %v", got, info[name])
				}
				if err := m.LoadTensors(name, goldenTensors(g)); err != nil {
					t.Fatal(err)
				}
				m.SetTraining(false)
				x := formulaInput(t, tc.be, in)
				feats, err := m.Features(x, []int{0, 1, 2, 3, 4})
				if err != nil {
					t.Fatal(err)
				}
				if len(feats) != len(golden) {
					t.Fatalf("%d features, timm %d", len(feats), len(golden))
				}
				for i, f := range feats {
					gt, fi := golden[i], info[name][i]
					want := kernels.Shape{in[0], ceilDiv(in[2], fi.Reduction), ceilDiv(in[3], fi.Reduction), fi.Channels}
					if gt.Name != fmt.Sprintf("features.%d", i) || !f.Shape.Equal(kernels.Shape(gt.Shape)) || !f.Shape.Equal(want) {
						t.Fatalf("feature %d: model %v, timm %s %v, FeatureInfo %v", i, f.Shape, gt.Name, gt.Shape, want)
					}
					matchFeature(t, tc.be, name, f, gt, tc.rtol, tc.atol)
				}
				sub, err := m.Features(x, []int{1, 4})
				if err != nil {
					t.Fatal(err)
				}
				if len(sub) != 2 || !sub[0].Shape.Equal(feats[1].Shape) || !sub[1].Shape.Equal(feats[4].Shape) {
					t.Errorf("Features(x, [1 4]) gave %d tensors", len(sub))
				}
			})
		}
	}
}

// TestEfficientFeaturesErrors checks that bad index lists and inputs are
// refused.
func TestEfficientFeaturesErrors(t *testing.T) {
	arch, err := EfficientPreset("mobilenetv4_conv_small", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewEfficientNet(cpu.New(), arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := m.Backend.Alloc(kernels.Shape{1, 32, 32, 3})
	for _, s := range [][]int{nil, {-1}, {5}, {1, 1}, {2, 1}} {
		if _, err := m.Features(x, s); err == nil {
			t.Errorf("indices %v accepted", s)
		}
	}
	small, _ := m.Backend.Alloc(kernels.Shape{1, 16, 32, 3})
	if _, err := m.Features(small, []int{0}); err == nil {
		t.Error("a 16×32 input accepted")
	}
	if f, err := m.Features(x, []int{0}); err != nil || !f[0].Shape.Equal(kernels.Shape{1, 16, 16, 32}) {
		t.Errorf("index 0 (the stem): %v, %v", f, err)
	}
}
