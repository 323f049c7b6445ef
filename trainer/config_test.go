package trainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	p := writeConfig(t, `
[model]
variant = "femto"
stem_patch = 2

[train]
epochs = 3
batch_size = 64
time_limit = "19m30s"

[optim]
lr = 2e-3
weight_decay = 0.3
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Variant != "femto" || c.Model.StemPatch != 2 || c.Train.Epochs != 3 || c.Train.BatchSize != 64 ||
		c.Optim.LR != 2e-3 || c.Optim.WeightDecay != 0.3 || c.Train.TimeLimit.Minutes() != 19.5 {
		t.Errorf("decoded %+v", c)
	}
	if c.Optim.Beta2 != 0.999 || c.Data.Workers != 2 {
		t.Errorf("defaults lost: beta2 %v workers %d", c.Optim.Beta2, c.Data.Workers)
	}
	if err := c.Set("train.epochs=7"); err != nil || c.Train.Epochs != 7 {
		t.Errorf("override epochs: %v, %d", err, c.Train.Epochs)
	}
	if err := c.Set("train.backend=cudasim"); err != nil || c.Train.Backend != "cudasim" {
		t.Errorf("override bare string: %v, %q", err, c.Train.Backend)
	}
	mc, err := c.ModelConfig(1, 10)
	if err != nil || mc.Dims[0] != 48 || mc.StemPatch != 2 || mc.InChans != 1 || mc.NumClasses != 10 {
		t.Errorf("model config %+v, %v", mc, err)
	}
	// The resolved config round-trips through TOML.
	back := writeConfig(t, c.TOML())
	c2, err := Load(back)
	if err != nil {
		t.Fatalf("reloading the printed config: %v\n%s", err, c.TOML())
	}
	if c2.Train.Epochs != 7 || c2.Optim.LR != 2e-3 || c2.Train.TimeLimit != c.Train.TimeLimit {
		t.Errorf("round trip lost values: %+v", c2.Train)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"[train]\nepochs = 3\nbatch_sise = 64\n", []string{"train.batch_sise", "line 3"}},
		{"[trian]\nepochs = 3\n", []string{"trian", "line 2"}},
		{"[train]\nepochs = \"three\"\n", []string{"epochs", "line 2"}},
		{"[train]\nepochs = 3\n[optim]\nlr = -1.0\n", []string{"optim.lr"}},
		{"[train]\nbackend = \"tpu\"\n", []string{"tpu"}},
		{"[mixup]\nmixup_alpha = 0.8\n[train]\nbatch_size = 33\n", []string{"even"}},
		{"[train]\nepochs = 3\n[[", []string{"line 3"}},
		{"[train]\ntime_limit = \"soon\"\n", []string{"soon"}},
	} {
		_, err := Load(writeConfig(t, tc.text))
		if err == nil {
			t.Errorf("%q accepted", tc.text)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %q", tc.text, err, w)
			}
		}
	}
	c := Default()
	if err := c.Set("train.nonsense=1"); err == nil || !strings.Contains(err.Error(), "train.nonsense") {
		t.Errorf("unknown override: %v", err)
	}
	if err := c.Set("epochs=1"); err == nil {
		t.Error("override without section accepted")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
}
