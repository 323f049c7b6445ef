package trainer

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// stagesTOML is a small hybrid-shaped spec as a user writes it: a stem
// table, stages with kind keys, a per-block override list, an explicit
// "none" downsample.
const stagesTOML = `
[model]
name = "tiny_spec"
stem_patch = 2

[model.stem]
kind = "patchify"
dim = 16

[[model.stages]]
kind = "convnext"
depth = 2
dim = 16
kernel = 5
blocks = [{hidden = 40}, {hidden = 24, grn = false}]

[[model.stages]]
kind = "convnext"
depth = 1
dim = 32
mlp_ratio = 2.0
layer_scale = 1e-6
grn = false

[[model.stages]]
kind = "convnext"
depth = 1
dim = 32
stride = 1
downsample = "none"
`

// TestModelStages reads a [[model.stages]] configuration, checks the model
// it resolves to, and that the printed configuration reads back to the same
// model.
func TestModelStages(t *testing.T) {
	c, err := Load(writeConfig(t, stagesTOML))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.ModelConfig(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Name != "tiny_spec" || len(mc.Stages) != 3 || mc.Depths[0] != 2 || mc.Dims[1] != 32 || mc.MinInput() != 4 {
		t.Fatalf("model config %+v", mc)
	}
	sp := mc.Spec()
	if sp.Stages[1].Downsample != "convnext" || sp.Stages[1].Stride != 2 || sp.Stages[2].Downsample != "" || sp.Stem.Dim != 16 {
		t.Errorf("spec defaults %+v", sp)
	}
	if k, _ := sp.Stages[0].Params.Int("kernel", 0); k != 5 {
		t.Errorf("stage 0 kernel %d, want 5", k)
	}
	if h, _ := sp.Stages[0].Blocks[1].Int("hidden", 0); h != 24 {
		t.Errorf("block override hidden %d, want 24", h)
	}
	c2, err := Load(writeConfig(t, c.TOML()))
	if err != nil {
		t.Fatalf("reloading the printed config: %v\n%s", err, c.TOML())
	}
	mc2, err := c2.ModelConfig(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(mc)
	b, _ := json.Marshal(mc2)
	if string(a) != string(b) {
		t.Errorf("TOML round trip changed the model:\n%s\n%s\n%s", a, b, c.TOML())
	}
	be := cpu.New()
	m, err := models.New(be, mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := be.Alloc(kernels.Shape{2, 8, 8, 1})
	y, err := m.Forward(x)
	if err != nil || !y.Shape.Equal(kernels.Shape{2, 10}) {
		t.Errorf("forward: %v %v", y.Shape, err)
	}
	if fc1 := m.Stages[0].Blocks[1].Params()[4]; !fc1.Shape().Equal(kernels.Shape{24, 16}) {
		t.Errorf("%s %v, want [24 16]", fc1.Name, fc1.Shape())
	}
}

// TestModelStagesErrors checks that a bad stages section is an error that
// names the stage, the block and the field.
func TestModelStagesErrors(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     []string
	}{
		{`kernel = 5`, `kernal = 5`, []string{"stage 0 block 0", "field kernal"}},
		{`kernel = 5`, `kernel = 4`, []string{"stage 0 block 0", "field kernel"}},
		{`{hidden = 24, grn = false}`, `{hidden = 24, grn = "no"}`, []string{"stage 0 block 1", "field grn"}},
		{`blocks = [{hidden = 40}, {hidden = 24, grn = false}]`, `blocks = [{hidden = 40}]`, []string{"stage 0", "field blocks"}},
		{`mlp_ratio = 2.0`, `mlp_ratio = 2.0
kind2 = 1`, []string{"stage 1 block 0", "field kind2"}},
		{`depth = 1
dim = 32
mlp_ratio`, `depth = 0
dim = 32
mlp_ratio`, []string{"stage 1", "field depth"}},
		{`kind = "convnext"
depth = 2`, `kind = "transformer"
depth = 2`, []string{"stage 0 block 0", "field kind", `"transformer"`}},
		{`downsample = "none"`, `downsample = "none"
stride = 2`, []string{"stride"}},
		{`stride = 1
downsample = "none"`, `stride = 2
downsample = "none"`, []string{"stage 2 block 0", "field stride"}},
		{`kind = "patchify"`, `kind = "stemless"`, []string{"stem", "field kind"}},
	} {
		text := strings.Replace(stagesTOML, tc.old, tc.new, 1)
		if text == stagesTOML {
			t.Fatalf("%q not in the config", tc.old)
		}
		_, err := Load(writeConfig(t, text))
		if err == nil {
			t.Errorf("%q accepted", tc.new)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not name %q", tc.new, err, w)
			}
		}
	}
}

// TestStagesTrainResume trains a [[model.stages]] network a few steps with
// layer-wise decay, reloads its checkpoint with nothing but the file (the
// spec travels in its metadata) and resumes the run.
func TestStagesTrainResume(t *testing.T) {
	c := quickConfig(t, 3)
	if err := c.decode("stages", stagesTOML); err != nil {
		t.Fatal(err)
	}
	c.Optim.LayerDecay = 0.8
	if err := run(t, c, 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.Train.OutDir, "last.safetensors")
	mc, err := models.ConfigFromCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Name != "tiny_spec" || len(mc.Stages) != 3 || mc.Dims[2] != 32 {
		t.Fatalf("stored config %+v", mc)
	}
	m, err := models.New(cpu.New(), mc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadWeights(m, path, true); err != nil {
		t.Fatal(err)
	}
	c.Train.Resume, c.Train.MaxSteps = true, 4
	if err := run(t, c, 0); err != nil {
		t.Fatalf("resume: %v", err)
	}
}

// TestModelStagesMalformed feeds stage tables of the wrong shape: each is
// an error naming the problem, never a panic or a silently empty network.
func TestModelStagesMalformed(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[model]\nstages = 5\n", "stages"},
		{"[model]\nstages = [1, 2]\n", "table"},
		{"[model]\nstem = 3\n", "stem"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 2\ndim = 8\nblocks = \"x\"\n", "blocks"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 1\ndim = 8\nblocks = [1]\n", "blocks[0]"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 2.5\ndim = 8\n", "depth"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = \"two\"\ndim = 8\n", "depth"},
		{"[[model.stages]]\nkind = 3\ndepth = 2\ndim = 8\n", "kind"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 2\ndim = 8\nkernel = [7]\n", "kernel"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 2\ndim = 8\nlayer_scale = nan\n", "layer_scale"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 99999\ndim = 8\n", "depth"},
		{"[[model.stages]]\nkind = \"convnext\"\ndepth = 2\ndim = 9999999999999\n", "dim"},
		{"[model]\nnames = \"torchvision\"\n[[model.stages]]\nkind = \"convnext\"\ndepth = 2\ndim = 8\n", "names"},
	} {
		_, err := Load(writeConfig(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.text, err, tc.want)
		}
	}
}
