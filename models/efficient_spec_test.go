package models

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestEfficientSpecEquality builds each of timm's four efficient baselines
// both as an EfficientNet and as its spec (EfficientArch.Config, the model
// the trainer trains) and requires the same state-dict names, shapes and
// order, the timm parameter count from the Model and from the analytic
// Footprint; for efficientnet_b0 and mobilenetv4_conv_small it loads the
// golden formula's timm state dict into both and requires bit-identical
// logits in evaluation mode, within 1e-4 of timm's.
func TestEfficientSpecEquality(t *testing.T) {
	for _, name := range []string{"efficientnet_b0", "efficientnetv2_rw_t", "mobilenetv4_conv_small", "mobilenetv4_conv_medium"} {
		t.Run(name, func(t *testing.T) {
			g := loadEfficientGolden(t, name)
			arch, err := EfficientPreset(name, 1000, 0)
			if err != nil {
				t.Fatal(err)
			}
			cfg := arch.Config()
			fp, err := cfg.Footprint(1, 224, 224)
			if err != nil {
				t.Fatal(err)
			}
			if fp.Params != int64(g.Params) {
				t.Errorf("footprint counts %d parameters, timm %d", fp.Params, g.Params)
			}
			full := name == "efficientnet_b0" || name == "mobilenetv4_conv_small"
			var be kernels.Backend = shapeOnly{cpu.New()}
			if full {
				be = cpu.New()
			}
			m, err := New(be, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			en, err := NewEfficientNet(be, arch, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.NumParams() != g.Params {
				t.Errorf("spec model has %d parameters, timm %d", m.NumParams(), g.Params)
			}
			got, want := m.State(), en.StateTensors()
			if len(got) != len(want) {
				t.Fatalf("%d state tensors as a spec, %d as an EfficientNet", len(got), len(want))
			}
			byName := map[string]string{}
			for _, p := range want {
				byName[p.Name] = fmt.Sprint(p.Shape())
			}
			for _, p := range got {
				if s, ok := byName[p.Name]; !ok || s != fmt.Sprint(p.Shape()) {
					t.Fatalf("spec tensor %s %v: EfficientNet has %q", p.Name, p.Shape(), s)
				}
			}
			for i, p := range m.Params() {
				if q := en.Params()[i]; p.Name != q.Name {
					t.Fatalf("parameter %d: %s as a spec, %s as an EfficientNet", i, p.Name, q.Name)
				}
			}
			if !full {
				return
			}
			weights := goldenTensors(g)
			if err := m.LoadTensors(name, weights); err != nil {
				t.Fatal(err)
			}
			if err := en.LoadTensors(name, weights); err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false)
			en.SetTraining(false)
			in := g.Inputs[0]
			x := formulaInput(t, be, in.Shape)
			ys, err := m.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			spec := append([]float32(nil), ys.Host32()...)
			ye, err := en.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			peak := 0.0
			for i, v := range ye.Host32() {
				if v != spec[i] {
					t.Fatalf("logit %d: %v as a spec, %v as an EfficientNet", i, spec[i], v)
				}
				peak = max(peak, math.Abs(in.Logits[i]))
			}
			testutil.AllClose(t, name+" spec logits", spec, in.Logits, 1e-4, 1e-4*peak)
		})
	}
}
