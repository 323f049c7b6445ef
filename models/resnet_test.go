package models

import (
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestResNetParamCounts checks the presets against timm's published counts
// at 1000 classes, from the built layers and from the analytic cost.
func TestResNetParamCounts(t *testing.T) {
	for name, want := range map[string]int{"resnet50": 25_557_032, "resnext50_32x4d": 25_028_904} {
		c, err := Variant(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := build(cpu.New(), c, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := m.NumParams(); got != want {
			t.Errorf("%s: %d parameters, timm has %d", name, got, want)
		}
		fp, err := c.Footprint(1, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(fp.Params); got != want {
			t.Errorf("%s: analytic count %d, timm has %d", name, got, want)
		}
	}
}
