package models

import (
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// loadEfficientGolden reads the golden data of the named baseline.
func loadEfficientGolden(t *testing.T, name string) testutil.EfficientGolden {
	t.Helper()
	g, err := testutil.LoadEfficientGolden(filepath.Join("testdata", "golden", "efficient", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestEfficientPresetParams checks the four baselines' parameter formulas
// against timm's counts, both the published ones and the golden files'.
func TestEfficientPresetParams(t *testing.T) {
	for name, want := range map[string]int{
		"efficientnet_b0": 5288548, "efficientnetv2_rw_t": 13649388,
		"mobilenetv4_conv_small": 3774024, "mobilenetv4_conv_medium": 9715512,
	} {
		a, err := EfficientPreset(name, 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.NumParams(); got != want {
			t.Errorf("%s: %d params, want %d", name, got, want)
		}
		if g := loadEfficientGolden(t, name); g.Params != want {
			t.Errorf("%s: golden file has %d params, want %d", name, g.Params, want)
		}
	}
}
