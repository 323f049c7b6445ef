package models

import (
	"context"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestResNetParamCounts checks the presets against timm's published counts
// at 1000 classes, from the built layers, the analytic cost and Describe,
// and that the analytic held activations equal Describe's (odd 225² input:
// the padded convolutions and the max pool round up). It logs the MACs:
// resnet50 4.09 G at 224² (the ConvNeXt paper's Table 1: 4.1 GFLOPs).
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
		for _, size := range []int{224, 225} {
			tot := describeChecked(t, name, c, m, size)
			t.Logf("%s at %d²: %d params, %.3f GMACs", name, size, tot.Params, float64(tot.MACs)/1e9)
		}
	}
}

// describeChecked returns the totals of m's Describe rows for one
// size×size image, failing the test unless they agree with the built
// model's parameter count and c's analytic Footprint (parameters and held
// activation bytes).
func describeChecked(t *testing.T, name string, c Config, m *Model, size int) LayerInfo {
	t.Helper()
	fp, err := c.Footprint(1, size, size)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := m.Describe(1, size, size, 4)
	if err != nil {
		t.Fatal(err)
	}
	tot := Totals(rows)
	if int64(tot.Params) != fp.Params || tot.Params != m.NumParams() || tot.SavedBytes != fp.ActivationBytes {
		t.Errorf("%s at %d²: Describe %d params %d bytes held, footprint %d params %d bytes, built %d params",
			name, size, tot.Params, tot.SavedBytes, fp.Params, fp.ActivationBytes, m.NumParams())
	}
	return tot
}

// TestResNetGradients checks a small ResNeXt (the resnet stem, a stage
// whose first block projects 4 → 8 channels, a strided grouped stage, the
// pool_linear head) in training mode, BatchNorm on batch statistics,
// against central differences in float64: every parameter's gradient for
// L = Σ logits·r on an odd 2×13×11 input (the stem computes no dL/dx). This covers the
// projection shortcut's backward and the max pool's routing inside a
// network.
func TestResNetGradients(t *testing.T) {
	c, _ := Variant("resnet50")
	c.InChans, c.NumClasses = 2, 3
	c.Stem = &PartSpec{Kind: "resnet", Dim: 4, Stride: 4}
	c.Stages = []StageSpec{
		{Kind: "bottleneck", Depth: 2, Dim: 8, Stride: 1},
		{Kind: "bottleneck", Depth: 1, Dim: 16, Stride: 2, Params: Params{"groups": 2}},
	}
	gradCheck(t, c)
}

// TestResNetProfile profiles resnet50 at 64² on the CPU: the profiler's
// timing wrapper passes the stem's max pool through to the backend.
func TestResNetProfile(t *testing.T) {
	c, _ := Variant("resnet50")
	rows, err := Profile(context.Background(), cpu.New(), c, ProfileOptions{Size: 64, Iters: 1, Warmup: 0})
	if err != nil {
		t.Fatal(err)
	}
	if tot := Totals(rows); tot.Params != 25_557_032 {
		t.Errorf("profile counts %d parameters", tot.Params)
	}
}
