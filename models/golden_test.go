package models

import (
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestGoldenLogits loads timm-named checkpoints written by PyTorch
// (scripts/golden/models.py: random F16 weights, official architecture,
// timm's names and shapes) into the Go model by name and matches the logits
// PyTorch computed for the same batch, rtol 1e-4, both for the preset and
// for its spec spelled out as stages (Config.Explicit).
func TestGoldenLogits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explicit bool
	}{{"convnextv2_atto", false}, {"convnext_atto", false}, {"convnextv2_atto", true}, {"convnext_atto", true}} {
		name := tc.name
		label := name
		if tc.explicit {
			label += "/stages"
		}
		t.Run(label, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name+".safetensors")
			tensors, _, err := ReadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			var weights []Tensor
			var x, logits Tensor
			for _, tn := range tensors {
				switch tn.Name {
				case "x":
					x = tn
				case "logits":
					logits = tn
				default:
					weights = append(weights, tn)
				}
			}
			cfg, err := Variant(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg.NumClasses = logits.Shape[1]
			if tc.explicit {
				cfg = cfg.Explicit()
			}
			be := cpu.New()
			m, err := New(be, cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.LoadTensors(path, weights); err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false)
			n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
			xt, _ := be.Alloc(kernels.Shape{n, h, w, c})
			copy(xt.Host32(), NCHWToNHWC(x.Data, n, c, h, w))
			got, err := m.Forward(xt)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, name+" logits", got.Host32(), logits.Data, 1e-4, 1e-5)
		})
	}
}
