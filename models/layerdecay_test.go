package models

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// layerDecay builds the variant's model (shapes only) and returns its
// LayerDecay.
func layerDecay(t *testing.T, variant string, decay float64, mode string) (func(string) float64, error) {
	t.Helper()
	cfg, _ := Variant(variant)
	m, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.LayerDecay(decay, mode)
}

// TestLayerDecaySingle checks atto's multipliers (docs/CONVNEXTV2.md §3.2,
// verified there against the official code).
func TestLayerDecaySingle(t *testing.T) {
	f, err := layerDecay(t, "atto", 0.9, "single")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"stem.0.weight":                    0.2824,
		"stages.0.blocks.0.conv_dw.weight": 0.2824,
		"stages.0.blocks.1.norm.bias":      0.3138,
		"stages.1.downsample.1.weight":     0.3487,
		"stages.1.blocks.0.mlp.fc1.weight": 0.3487,
		"stages.1.blocks.1.mlp.grn.weight": 0.3874,
		"stages.2.downsample.0.weight":     0.4305,
		"stages.2.blocks.5.mlp.fc2.bias":   0.7290,
		"stages.3.blocks.0.conv_dw.bias":   0.81,
		"stages.3.blocks.1.conv_dw.bias":   0.9,
		"head.norm.weight":                 1,
		"head.fc.bias":                     1,
	} {
		if got := f(name); math.Abs(got-want) > 5e-5 {
			t.Errorf("%s: %.4f, want %.4f", name, got, want)
		}
	}
	f, _ = layerDecay(t, "tiny", 0.9, "single")
	if got := f("stem.1.bias"); math.Abs(got-0.1501) > 5e-5 {
		t.Errorf("tiny stem: %.4f, want 0.1501", got)
	}
	if _, err := layerDecay(t, "atto", 0.9, "blocks"); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := layerDecay(t, "atto", 1.5, "single"); err == nil {
		t.Error("decay 1.5 accepted")
	}
}

// TestLayerDecayGroup checks the official 12-group rule for base.
func TestLayerDecayGroup(t *testing.T) {
	f, err := layerDecay(t, "base", 0.5, "group")
	if err != nil {
		t.Fatal(err)
	}
	for name, layer := range map[string]int{
		"stem.0.weight": 0, "stages.0.blocks.2.norm.weight": 1, "stages.1.downsample.0.bias": 2,
		"stages.1.blocks.0.conv_dw.weight": 2, "stages.2.downsample.1.weight": 3, "stages.2.blocks.0.mlp.fc1.weight": 3,
		"stages.2.blocks.5.mlp.fc1.weight": 4, "stages.2.blocks.26.mlp.fc1.weight": 11, "stages.3.downsample.1.bias": 12,
		"stages.3.blocks.2.norm.bias": 12, "head.fc.weight": 13,
	} {
		if got, want := f(name), math.Pow(0.5, float64(13-layer)); got != want {
			t.Errorf("%s: %v, want layer %d → %v", name, got, layer, want)
		}
	}
}
