package models

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestHybridPresets builds every hybrid preset, V2-Atto (the reference)
// and V2-Atto at φ = −1, runs a forward pass at 32×32, checks that the
// analytic footprint equals what Describe lists and that SE adds exactly its
// formula, and logs the parameters and MACs that docs/EFFICIENT.md §7
// tabulates: at 224² with 1000 classes and the 4×4 stem, and at 32² with 100
// classes (CIFAR-100) and the 2×2 stem.
func TestHybridPresets(t *testing.T) {
	atto, _ := Variant("convnextv2_atto")
	sub, err := atto.Scale(-1, EfficientNetCompound())
	if err != nil {
		t.Fatal(err)
	}
	cfgs := []Config{atto, sub}
	for _, name := range hybridNames() {
		c, err := Variant(name)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	for _, base := range cfgs {
		row := "| " + base.Name
		for _, tc := range []struct{ size, stem, classes int }{{224, 4, 1000}, {32, 2, 100}} {
			c := base
			c.StemPatch, c.NumClasses = tc.stem, tc.classes
			be := cpu.New()
			m, err := New(be, c, 1)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if tc.size == 32 {
				x, _ := be.Alloc(kernels.Shape{2, 32, 32, 3})
				for i := range x.Host32() {
					x.Host32()[i] = float32(i%7) / 7
				}
				if y, err := m.Forward(x); err != nil || !y.Shape.Equal(kernels.Shape{2, tc.classes}) {
					t.Fatalf("%s: forward %v %v", c.Name, y.Shape, err)
				}
			}
			fp, err := c.Footprint(1, tc.size, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := m.Describe(1, tc.size, tc.size, 4)
			if err != nil {
				t.Fatal(err)
			}
			tot := Totals(rows)
			if fp.Params != int64(m.NumParams()) || fp.ActivationBytes != tot.SavedBytes || int64(tot.Params) != fp.Params {
				t.Errorf("%s at %d: footprint %d params %d bytes, model %d params, Describe %d params %d bytes",
					c.Name, tc.size, fp.Params, fp.ActivationBytes, m.NumParams(), tot.Params, tot.SavedBytes)
			}
			row += fmt.Sprintf(" | %.2f M | %.3f G", float64(tot.Params)/1e6, float64(tot.MACs)/1e9)
		}
		t.Log(row + " |")
	}
	// SE on 40..320 channels with r = round(dim/4): 2·d·r + d + r per block.
	se, _ := Variant("convnextv2_atto_se")
	want := 0
	for i, d := range atto.Dims {
		r := d / 4
		want += atto.Depths[i] * (2*d*r + d + r)
	}
	if got := paramsOf(t, se) - paramsOf(t, atto); got != want {
		t.Errorf("SE adds %d params, want %d", got, want)
	}
}

// paramsOf returns the parameter count of c at 1000 classes.
func paramsOf(t *testing.T, c Config) int {
	t.Helper()
	fp, err := c.Footprint(1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return int(fp.Params)
}

// TestEfficientKindErrors checks that a stage of an efficient kind with a
// bad field is refused naming the stage, block and field.
func TestEfficientKindErrors(t *testing.T) {
	for _, tc := range []struct {
		stage StageSpec
		want  string
	}{
		{StageSpec{Kind: "mbconv", Depth: 1, Dim: 16, Stride: 3}, "stride"},
		{StageSpec{Kind: "mbconv", Depth: 1, Dim: 16, Params: Params{"expand": -1}}, "field expand"},
		{StageSpec{Kind: "uib", Depth: 1, Dim: 16, Params: Params{"kernel": 4}}, "kernel 4"},
		{StageSpec{Kind: "fused_mbconv", Depth: 1, Dim: 16, Params: Params{"start_kernel": 3}}, "field start_kernel"},
		{StageSpec{Kind: "convnext", Depth: 1, Dim: 16, Params: Params{"se": 0.25, "eca": true}}, "field eca"},
		{StageSpec{Kind: "transformer", Depth: 1, Dim: 16}, "unknown block kind"},
	} {
		c, _ := Variant("convnextv2_atto")
		c.Stages = []StageSpec{{Kind: "convnext", Depth: 1, Dim: 16}, tc.stage}
		err := c.Resolved().Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "stage 1") {
			t.Errorf("%+v: error %v, want one naming stage 1 and %q", tc.stage, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
