package models

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestPresetSpecEquality builds every published variant both as the preset
// Config and as its spec spelled out in stages (Config.Explicit) and
// requires the same parameter names, shapes and counts, the same Footprint
// and, for the small models with real weights, bit-identical logits.
func TestPresetSpecEquality(t *testing.T) {
	for _, name := range Variants() {
		cfg, err := Variant(name)
		if err != nil {
			t.Fatal(err)
		}
		exp := cfg.Explicit()
		if len(exp.Stages) != len(cfg.Spec().Stages) || exp.Stem == nil || exp.Head == nil {
			t.Fatalf("%s: explicit spec %+v", name, exp)
		}
		a, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := build(shapeOnly{cpu.New()}, exp, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.NumParams() != b.NumParams() || len(a.Params()) != len(b.Params()) {
			t.Fatalf("%s: %d/%d parameters as a preset, %d/%d as stages", name, a.NumParams(), len(a.Params()), b.NumParams(), len(b.Params()))
		}
		for i, p := range a.Params() {
			q := b.Params()[i]
			if p.Name != q.Name || !p.Shape().Equal(q.Shape()) || p.Decay != q.Decay {
				t.Fatalf("%s: parameter %d is %s %v as a preset, %s %v as stages", name, i, p.Name, p.Shape(), q.Name, q.Shape())
			}
		}
		fa, err := cfg.Footprint(2, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		fb, err := exp.Footprint(2, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		if fa != fb || fa.Params != int64(a.NumParams()) {
			t.Errorf("%s: footprint %+v as a preset, %+v as stages, model has %d parameters", name, fa, fb, a.NumParams())
		}
	}
	for _, name := range []string{"convnextv2_atto", "convnext_atto", "convnextv2_femto"} {
		cfg, _ := Variant(name)
		cfg.NumClasses, cfg.DropPath = 7, 0.1
		be := cpu.New()
		x, _ := be.Alloc(kernels.Shape{2, 32, 32, 3})
		for i := range x.Host32() {
			x.Host32()[i] = float32(i%17)/8 - 1
		}
		var logits [][]float32
		for _, c := range []Config{cfg, cfg.Explicit()} {
			m, err := New(be, c, 5)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false)
			y, err := m.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, append([]float32(nil), y.Host32()...))
		}
		if !reflect.DeepEqual(logits[0], logits[1]) {
			t.Errorf("%s: logits differ: %v vs %v", name, logits[0][:4], logits[1][:4])
		}
	}
}

// TestSpecJSONRoundTrip writes a spec Config (with per-block overrides, a
// stem and a head) as a checkpoint stores it and reads it back; the
// network it builds has the analytic footprint of its parts (hidden widths,
// layer scale, drop path and GRN mixed).
func TestSpecJSONRoundTrip(t *testing.T) {
	cfg, _ := Variant("atto")
	cfg.DropPath = 0.2
	cfg = cfg.Explicit()
	cfg.Stages[1].Blocks = []Params{{"hidden": 100}, {"hidden": 120, "grn": false, "layer_scale": 1e-6}}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"stages":[{`) || !strings.Contains(string(js), `"kernel":7`) {
		t.Errorf("stages not written flat: %s", js)
	}
	var back Config
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	js2, _ := json.Marshal(back)
	if string(js) != string(js2) {
		t.Errorf("round trip changed the config:\n%s\n%s", js, js2)
	}
	m, err := build(shapeOnly{cpu.New()}, back, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckFootprint(2, 64, 48); err != nil {
		t.Error(err)
	}
	fc1 := m.Stages[1].Blocks[1].Params()[4] // conv_dw w, b, norm w, b, fc1 w
	if fc1.Name != "stages.1.blocks.1.mlp.fc1.weight" || !fc1.Shape().Equal(kernels.Shape{120, 80}) {
		t.Errorf("per-block hidden width: %s %v, want stages.1.blocks.1.mlp.fc1.weight [120 80]", fc1.Name, fc1.Shape())
	}
	for _, p := range m.Stages[1].Blocks[1].Params() {
		if strings.Contains(p.Name, "grn") {
			t.Errorf("block override grn=false left %s", p.Name)
		}
	}
}

// TestSpecErrors checks that every kind of bad spec is an error naming the
// stage, the block and the field.
func TestSpecErrors(t *testing.T) {
	base := func() Config {
		c, _ := Variant("atto")
		c.NumClasses = 10
		return c.Explicit()
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"unknown kind", func(c *Config) { c.Stages[2].Kind = "mbconv9" }, []string{"stage 2 block 0", "field kind", `"mbconv9"`, "convnext"}},
		{"missing kind", func(c *Config) { c.Stages[1].Kind = "" }, []string{"stage 1", "field kind"}},
		{"unknown key", func(c *Config) { c.Stages[1].Params["expand"] = 4 }, []string{"stage 1 block 0", "field expand", "kernel"}},
		{"unknown block key", func(c *Config) {
			c.Stages[3].Blocks = []Params{{}, {"kernal": 5}}
		}, []string{"stage 3 block 1", "field kernal"}},
		{"blocks length", func(c *Config) { c.Stages[0].Blocks = []Params{{}} }, []string{"stage 0", "field blocks", "depth 2"}},
		{"even kernel", func(c *Config) { c.Stages[0].Params["kernel"] = 4 }, []string{"stage 0 block 0", "field kernel"}},
		{"kernel type", func(c *Config) { c.Stages[0].Params["kernel"] = "big" }, []string{"stage 0 block 0", "field kernel", "not an integer"}},
		{"fractional hidden", func(c *Config) { c.Stages[2].Blocks = make([]Params, 6); c.Stages[2].Blocks[5] = Params{"hidden": 2.5} }, []string{"stage 2 block 5", "field hidden"}},
		{"negative hidden", func(c *Config) { c.Stages[2].Params["hidden"] = -3 }, []string{"stage 2 block 0", "field hidden"}},
		{"grn type", func(c *Config) { c.Stages[0].Params["grn"] = 1 }, []string{"stage 0 block 0", "field grn"}},
		{"zero depth", func(c *Config) { c.Stages[3].Depth = 0 }, []string{"stage 3", "field depth"}},
		{"huge width", func(c *Config) { c.Stages[3].Dim = MaxDim + 1 }, []string{"stage 3", "field dim"}},
		{"bad stride", func(c *Config) { c.Stages[1].Stride = -2 }, []string{"stage 1", "field stride"}},
		{"block cannot stride", func(c *Config) { c.Stages[1].Downsample = "none" }, []string{"stage 1 block 0", "field stride", "downsample"}},
		{"block cannot widen", func(c *Config) { c.Stages[1].Downsample, c.Stages[1].Stride = "none", 1 }, []string{"stage 1 block 0", "field dim", "keeps its width"}},
		{"unknown downsample", func(c *Config) { c.Stages[2].Downsample = "maxpool" }, []string{"stage 2 downsample", "field kind", `"maxpool"`}},
		{"unknown stem", func(c *Config) { c.Stem.Kind = "deep_stem" }, []string{"stem", "field kind", `"deep_stem"`, "patchify"}},
		{"stem key", func(c *Config) { c.Stem.Params = Params{"act": "relu"} }, []string{"stem", "field act"}},
		{"unknown head", func(c *Config) { c.Head.Kind = "conv_head" }, []string{"head", "field kind", "norm_linear"}},
		{"head width", func(c *Config) { c.Head.Dim = 1280 }, []string{"head", "field dim"}},
		{"no stages", func(c *Config) { c.Stages = nil; c.Depths, c.Dims = nil, nil }, []string{"depths"}},
		{"too many stages", func(c *Config) {
			for range MaxStages {
				c.Stages = append(c.Stages, c.Stages[3])
			}
		}, []string{"stages", "at most"}},
	}
	for _, tc := range cases {
		c := base()
		tc.change(&c)
		_, err := New(shapeOnly{cpu.New()}, c, 0)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", tc.name, err, w)
			}
		}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepts it", tc.name)
		}
	}
	var se *SpecError
	c := base()
	c.Stages[2].Kind = "nope"
	if err := c.Validate(); !errors.As(err, &se) || se.Where != "stage 2 block 0" || !errors.Is(err, ErrSpec) {
		t.Errorf("error %v is not a SpecError at stage 2 block 0 wrapping ErrSpec", err)
	}
}

// TestSpecDefaults checks the defaults a written stages list gets: stride 1
// for the first stage and 2 after, the kind's downsample where a stage
// changes resolution or width, "none" for no downsample, the stem's width
// from the first stage, and the depths and dims read from the stages.
func TestSpecDefaults(t *testing.T) {
	c := Config{Name: "s", InChans: 1, NumClasses: 10, StemPatch: 2, HeadInitScale: 1, Eps: 1e-6,
		Stages: []StageSpec{
			{Kind: "convnext", Depth: 1, Dim: 16},
			{Kind: "convnext", Depth: 2, Dim: 32, Params: Params{"grn": false, "layer_scale": 1e-6}},
			{Kind: "convnext", Depth: 1, Dim: 32, Stride: 1},
		}}
	sp := c.Spec()
	if sp.Stem.Dim != 16 || sp.Stem.Stride != 2 || sp.Stages[0].Downsample != "" || sp.Stages[1].Downsample != "convnext" ||
		sp.Stages[1].Stride != 2 || sp.Stages[2].Downsample != "" {
		t.Fatalf("defaults: %+v", sp)
	}
	if c.MinInput() != 4 {
		t.Errorf("MinInput %d, want 4", c.MinInput())
	}
	m, err := New(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Config.Depths, []int{1, 2, 1}) || !reflect.DeepEqual(m.Config.Dims, []int{16, 32, 32}) {
		t.Errorf("depths %v dims %v", m.Config.Depths, m.Config.Dims)
	}
	if m.Stages[2].Downsample != nil || m.Stages[1].Downsample == nil {
		t.Errorf("downsamples %v %v", m.Stages[1].Downsample, m.Stages[2].Downsample)
	}
	x, _ := cpu.New().Alloc(kernels.Shape{1, 4, 4, 1})
	if _, err := m.Forward(x); err != nil {
		t.Errorf("forward at MinInput: %v", err)
	}
	if err := m.CheckFootprint(1, 8, 9); err != nil {
		t.Error(err)
	}
}
