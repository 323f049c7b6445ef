package trainer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
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

// TestConfigValidation sets every key that can be out of range to a
// negative or nonsensical value: each must be refused with an error naming
// the TOML key (never a Go field or type) and the offending value.
func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		set  string // section.key=value applied over the defaults
		want []string
	}{
		{"model.variant=tiniest", []string{"model.variant", "tiniest"}},
		{"model.in_chans=-1", []string{"model.in_chans = -1"}},
		{"model.num_classes=-10", []string{"model.num_classes = -10"}},
		{"model.num_classes=2000000000", []string{"model.num_classes = 2000000000"}},
		{"model.stem_patch=0", []string{"[model]", "stem_patch 0"}},
		{"model.kernel=4", []string{"[model]", "kernel 4"}},
		{"model.kernel=1000001", []string{"[model]", "kernel 1000001"}},
		{"model.mlp_ratio=-4", []string{"[model]", "mlp_ratio -4"}},
		{"model.drop_path=1", []string{"[model]", "drop_path 1"}},
		{"model.head_init_scale=0", []string{"[model]", "head_init_scale 0"}},
		{"model.phi=-inf", []string{"model.phi = -Inf"}},
		{"model.phi=nan", []string{"model.phi = NaN"}},
		{"model.phi=50", []string{"model.phi", "compound scaling by φ=50"}},
		{"model.phi=20", []string{"[model]", "parameters, over the limit", "-max-params"}},
		{"model.alpha=0.5", []string{"model.alpha = 0.5"}},
		{"model.beta=inf", []string{"model.beta = +Inf"}},
		{"model.gamma=0", []string{"model.gamma = 0"}},
		{"data.dataset=imagenet", []string{`data.dataset = "imagenet"`}},
		{"data.root=", []string{"data.root"}},
		{"data.dataset=imagefolder", []string{"data.train_dir and data.val_dir"}},
		{"data.input_size=-28", []string{"data.input_size = -28"}},
		{"data.input_size=100000", []string{"data.input_size = 100000"}},
		{"data.input_size=4096", []string{"data.prefetch", "GiB of batches", "-max-memory"}},
		{"data.crop_padding=-2", []string{"data.crop_padding = -2"}},
		{"data.hflip=1.5", []string{"data.hflip = 1.5"}},
		{"data.random_erasing=-0.1", []string{"data.random_erasing = -0.1"}},
		{"data.workers=0", []string{"data.workers = 0"}},
		{"data.prefetch=-1", []string{"data.prefetch = -1"}},
		{"data.eval_images=-5", []string{"data.eval_images = -5"}},
		{"train.backend=tpu", []string{`train.backend = "tpu"`}},
		{"train.epochs=-1", []string{"train.epochs = -1"}},
		{"train.max_steps=-3", []string{"train.max_steps = -3"}},
		{"train.epochs=0", []string{"train.epochs and train.max_steps"}},
		{"train.batch_size=0", []string{"train.batch_size = 0"}},
		{"train.eval_batch_size=-500", []string{"train.eval_batch_size = -500"}},
		{"train.update_freq=0", []string{"train.update_freq = 0", ">= 1"}},
		{"train.update_freq=-4", []string{"train.update_freq = -4"}},
		{"train.batch_size=1000000000", []string{"GiB of batches"}},
		{"train.seed=-1", []string{"train.seed = -1"}},
		{"train.label_smoothing=1", []string{"train.label_smoothing = 1"}},
		{"train.log_every=0", []string{"train.log_every = 0"}},
		{"train.eval_every=-1", []string{"train.eval_every = -1"}},
		{"train.checkpoint_every=-100", []string{"train.checkpoint_every = -100"}},
		{"train.out_dir=", []string{"train.out_dir"}},
		{"train.time_limit=-5m", []string{"train.time_limit = -5m0s"}},
		{"train.time_limit=5", []string{"train.time_limit", "missing unit"}},
		{"optim.name=adam", []string{`optim.name "adam"`}},
		{"optim.lr=0", []string{"optim.lr = 0"}},
		{"optim.lr=inf", []string{"optim.lr = +Inf"}},
		{"optim.min_lr=1", []string{"optim.min_lr = 1"}},
		{"optim.warmup_steps=-1", []string{"optim.warmup_steps = -1"}},
		{"optim.warmup_epochs=-0.5", []string{"optim.warmup_epochs = -0.5"}},
		{"optim.weight_decay=-0.05", []string{"optim.weight_decay -0.05"}},
		{"optim.beta1=1", []string{"optim.beta1 1"}},
		{"optim.beta2=-0.1", []string{"optim.beta2 -0.1"}},
		{"optim.eps=0", []string{"optim.eps 0"}},
		{"optim.clip_grad=-1", []string{"optim.clip_grad -1"}},
		{"optim.layer_decay=0", []string{"optim.layer_decay = 0"}},
		{"optim.layer_decay=1.5", []string{"optim.layer_decay = 1.5"}},
		{"optim.layer_decay_mode=both", []string{`optim.layer_decay_mode = "both"`}},
		{"mixup.mixup_alpha=-0.8", []string{"mixup.mixup_alpha -0.8"}},
		{"mixup.cutmix_alpha=inf", []string{"mixup.cutmix_alpha +Inf"}},
		{"mixup.prob=2", []string{"mixup.prob 2"}},
		{"mixup.switch_prob=-1", []string{"mixup.switch_prob -1"}},
		{"ema.decay=1", []string{"ema.decay = 1"}},
		{"ema.decay=-0.5", []string{"ema.decay = -0.5"}},
	} {
		key, val, _ := strings.Cut(tc.set, "=")
		section, leaf, _ := strings.Cut(key, ".")
		if _, err := toml.Decode(leaf+" = "+val, &map[string]any{}); err != nil {
			val = strconv.Quote(val)
		}
		text := fmt.Sprintf("[%s]\n%s = %s\n", section, leaf, val)
		_, err := Load(writeConfig(t, text))
		if err == nil {
			t.Errorf("%s accepted", tc.set)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.set, err, w)
			}
		}
		for _, goName := range []string{"Config.", "trainer.", "int64", "float64"} {
			if strings.Contains(err.Error(), goName) {
				t.Errorf("%s: error %q names Go's %q", tc.set, err, goName)
			}
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"[data]\ndataset = \"mnist\"\ndownload = true\n", "data.download = true: want false for mnist"},
		{"train = 5\n", "line 1: train must be a [train] table"},
		{"[train]\nqat = 1\n", "train.qat"},
	} {
		if _, err := Load(writeConfig(t, tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}
