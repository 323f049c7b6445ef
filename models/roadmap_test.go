package models

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// roadmapPinned is each roadmap preset's parameter count and MACs at 224²
// (1000 classes), from the built layers and Describe; the first equals
// resnet50's, the last convnext_tiny's.
var roadmapPinned = map[string][2]int64{
	"roadmap_00_resnet50":            {25_557_032, 4_089_184_256},
	"roadmap_01_stage_ratio":         {28_628_520, 4_525_916_160},
	"roadmap_02_patchify_stem":       {28_622_184, 4_417_536_000},
	"roadmap_03_depthwise":           {15_722_664, 2_349_507_072},
	"roadmap_04_width":               {33_761_032, 5_267_976_960},
	"roadmap_05_inverted_bottleneck": {25_851_496, 4_644_406_272},
	"roadmap_06_dw_first":            {25_625_512, 4_065_080_448},
	"roadmap_07_kernel7":             {25_863_592, 4_145_612_928},
	"roadmap_08_gelu":                {25_863_592, 4_145_612_928},
	"roadmap_09_fewer_activations":   {25_863_592, 4_145_612_928},
	"roadmap_10_fewer_norms":         {25_830_472, 4_145_612_928},
	"roadmap_11_layernorm":           {25_837_864, 4_145_612_928},
	"roadmap_12_convnext_tiny":       {28_589_128, 4_455_531_264},
}

// TestRoadmapPresets builds every roadmap step at 1000 classes and checks
// its parameter count and MACs at 224² against the pinned values, the
// analytic count and held activations (Footprint, at 224² and an odd 225²)
// against Describe's, and logs the table docs/ROADMAP.md shows (params,
// GMACs, the paper's GFLOPs and their ratio).
func TestRoadmapPresets(t *testing.T) {
	steps := Roadmap()
	if len(steps) != 13 {
		t.Fatalf("%d roadmap steps, want 13", len(steps))
	}
	for i, s := range steps {
		c, err := Variant(s.Preset)
		if err != nil {
			t.Fatal(err)
		}
		m, err := build(cpu.New(), c, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", s.Preset, err)
		}
		for _, size := range []int{224, 225} {
			tot := describeChecked(t, s.Preset, c, m, size)
			if size != 224 {
				continue
			}
			g := float64(tot.MACs) / 1e9
			t.Logf("| %02d | %s | %.2f M | %.2f | %.1f | %+.1f %% |", i, s.Preset, float64(tot.Params)/1e6, g, s.PaperGFLOPs, 100*(g/s.PaperGFLOPs-1))
			if want, ok := roadmapPinned[s.Preset]; !ok || want != [2]int64{int64(tot.Params), tot.MACs} {
				t.Errorf("%s: %d params, %d MACs at 224², pinned %v", s.Preset, tot.Params, tot.MACs, want)
			}
		}
	}
}

// TestRoadmapLastIsConvNeXtTiny checks that the roadmap's last step is
// convnext_tiny: the same parameter names, shapes and count (28,589,128),
// the same logits given the same weights, and timm's features_only
// outputs of convnext_tiny (the golden data TestFeaturesGolden uses)
// within 1e-4 relative. TestResNetGolden matches its logits with timm's.
func TestRoadmapLastIsConvNeXtTiny(t *testing.T) {
	steps := Roadmap()
	last, _ := Variant(steps[len(steps)-1].Preset)
	tiny, _ := Variant("convnext_tiny")
	be := cpu.New()
	golden, gain, _ := readFeatureGolden(t, "convnext_tiny")
	var models [2]*Model
	var logits [2][]float32
	x := formulaInput(t, be, []int{1, 3, 32, 48})
	for i, c := range []Config{last, tiny} {
		m, err := New(be, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := loadFormula(m, gain); err != nil {
			t.Fatal(err)
		}
		m.SetTraining(false)
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		models[i], logits[i] = m, slices.Clone(y.Host32())
	}
	if n := models[0].NumParams(); n != 28_589_128 || n != models[1].NumParams() {
		t.Errorf("%d parameters, convnext_tiny has %d (timm 28,589,128)", n, models[1].NumParams())
	}
	a, b := models[0].State(), models[1].State()
	if len(a) != len(b) {
		t.Fatalf("%d tensors, convnext_tiny %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !a[i].Shape().Equal(b[i].Shape()) {
			t.Errorf("tensor %d: %s %v, convnext_tiny %s %v", i, a[i].Name, a[i].Shape(), b[i].Name, b[i].Shape())
		}
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Errorf("logits differ from convnext_tiny's: %v vs %v", logits[0][:4], logits[1][:4])
	}
	feats, err := models[0].Features(x, []int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range feats {
		want := make([]float64, len(golden[i].Data))
		peak := 0.0
		for j, v := range golden[i].Data {
			want[j] = float64(v)
			peak = max(peak, math.Abs(want[j]))
		}
		testutil.AllClose(t, fmt.Sprintf("features.%d", i), hostValues(t, be, f), want, 1e-4, 1e-5*peak)
	}
}

// TestRoadmapNeighbours checks that consecutive steps differ where the
// paper's change says: the block keys of steps 05–11 differ in exactly one
// key (step 05 also sets the widths), and the first steps in depths, stem
// and block kind.
func TestRoadmapNeighbours(t *testing.T) {
	steps := Roadmap()
	cfg := func(i int) Config { c, _ := Variant(steps[i].Preset); return c }
	if d := cfg(1).Depths; !slices.Equal(d, []int{3, 3, 9, 3}) || !slices.Equal(cfg(0).Depths, []int{3, 4, 6, 3}) {
		t.Errorf("stage ratio: depths %v", d)
	}
	if cfg(1).Stem.Kind != "resnet" || cfg(2).Stem.Kind != "patchify" || cfg(2).Stages[0].Kind != "bottleneck" || cfg(3).Stages[0].Kind != "roadmap" {
		t.Errorf("steps 01–03 change the stem, then the block")
	}
	for i := 6; i <= 11; i++ {
		a, b := cfg(i - 1).Stages[0].Params, cfg(i).Stages[0].Params
		var changed []string
		for _, k := range b.Keys() {
			if a[k] != b[k] {
				changed = append(changed, k)
			}
		}
		if len(changed) != 1 {
			t.Errorf("%s changes block keys %v, want one", steps[i].Preset, changed)
		}
	}
}

// TestRoadmapGradients checks the roadmap block in its forms (ResNeXt's
// depthwise bottleneck with ReLU and BatchNorm, the inverted bottleneck,
// the depthwise conv first with GELU, one activation and one norm, and
// LayerNorm), each in a two-stage network whose second stage strides and
// widens (the projection shortcut), with the BatchNorm patchify stem or
// the max-pool-free resnet stem, in training mode, against central
// differences in float64: every parameter's gradient of L = Σ logits·r on
// an odd 2×13×11 input.
func TestRoadmapGradients(t *testing.T) {
	base := roadmapBlockParams()
	for _, tc := range []struct {
		name  string
		stem  PartSpec
		block Params
	}{
		{"depthwise_bottleneck", PartSpec{Kind: "patchify", Dim: 4, Stride: 2, Params: Params{"norm": "batchnorm"}}, base},
		{"inverted", PartSpec{Kind: "resnet", Dim: 4, Stride: 2}, base.Merge(Params{"ratio": 2.0})},
		{"dw_first_gelu_k5", PartSpec{Kind: "patchify", Dim: 4, Stride: 2, Params: Params{"norm": "batchnorm"}},
			base.Merge(Params{"ratio": 2.0, "dw_first": true, "kernel": 5, "act": "gelu"})},
		{"one_act_one_norm", PartSpec{Kind: "patchify", Dim: 4, Stride: 2, Params: Params{"norm": "batchnorm"}},
			base.Merge(Params{"ratio": 2.0, "dw_first": true, "act": "gelu", "activations": "one", "norms": "one"})},
		{"layernorm", PartSpec{Kind: "patchify", Dim: 4, Stride: 2},
			base.Merge(Params{"ratio": 2.0, "dw_first": true, "act": "gelu", "activations": "one", "norms": "one", "norm": "layernorm"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := Variant("roadmap_03_depthwise")
			c.InChans, c.NumClasses, c.DropPath = 2, 3, 0
			c.Stem = &tc.stem
			c.Stages = []StageSpec{
				{Kind: "roadmap", Depth: 2, Dim: 6, Stride: 1, Params: tc.block},
				{Kind: "roadmap", Depth: 1, Dim: 8, Stride: 2, Params: tc.block},
			}
			gradCheck(t, c)
		})
	}
}

// gradCheck compares every parameter gradient of c's model on the float64
// CPU backend, in training mode, for L = Σ logits·r on a 2×13×11 input
// against central differences.
func gradCheck(t *testing.T, c Config) {
	t.Helper()
	be := cpu.New64()
	m, err := New(be, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(true)
	rng := testutil.NewRand(3)
	for _, p := range m.Params() {
		copy(p.Value.Host64(), testutil.Rand64(rng, p.Value.Len(), 0.5))
	}
	x, _ := be.Alloc(kernels.Shape{2, 13, 11, c.InChans})
	copy(x.Host64(), testutil.Rand64(rng, x.Len(), 1))
	r := testutil.Rand64(rng, 2*c.NumClasses, 1)
	loss := func() float64 {
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, v := range y.Host64() {
			s += v * r[i]
		}
		return s
	}
	loss()
	if err := m.Arena.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	dy, _ := be.Alloc(kernels.Shape{2, c.NumClasses})
	copy(dy.Host64(), r)
	if err := m.Backward(dy); err != nil {
		t.Fatal(err)
	}
	grads := make([][]float64, len(m.Params()))
	for i, p := range m.Params() {
		grads[i] = append([]float64(nil), p.Grad.Host64()...)
	}
	const h, rtol, atol = 1e-6, 1e-5, 1e-7
	for i, p := range m.Params() {
		testutil.AllClose(t, "d"+p.Name, grads[i], testutil.NumGrad(p.Value.Host64(), h, loss), rtol, atol)
	}
}

// TestRoadmapParts checks a roadmap step's parts the way the other kinds'
// are used: names (stem.0/1, stages.i.blocks.j.convK, the shortcut's
// downsample.0/1), layer decay (each block its own layer, the shortcut
// with its block), profiling at 64², errors naming the field for bad keys,
// and that the official naming refuses a BatchNorm patchify stem.
func TestRoadmapParts(t *testing.T) {
	c, _ := Variant("roadmap_10_fewer_norms")
	c.NumClasses = 10
	m, err := New(cpu.New(), c, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range m.Params() {
		names[p.Name] = true
	}
	for _, n := range []string{"stem.0.weight", "stem.1.weight", "stages.0.blocks.0.conv1.weight", "stages.0.blocks.0.norm1.bias",
		"stages.1.blocks.0.conv2.bias", "stages.1.blocks.0.downsample.0.weight", "stages.1.blocks.0.downsample.1.weight", "head.fc.weight"} {
		if !names[n] {
			t.Errorf("no parameter %s", n)
		}
	}
	for _, n := range []string{"stem.0.bias", "stages.0.blocks.0.norm2.weight", "stages.0.blocks.0.conv1.bias"} {
		if names[n] {
			t.Errorf("parameter %s: a conv under BatchNorm has no bias, and norms = \"one\" keeps only norm1", n)
		}
	}
	decay, err := m.LayerDecay(0.5, "single")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := decay("stages.1.blocks.0.conv1.weight"), decay("stages.1.blocks.0.downsample.0.weight"); a != b || a != math.Pow(0.5, 18-3) {
		t.Errorf("layer decay: block %v, its shortcut %v, want 0.5^15", a, b)
	}
	rows, err := Profile(context.Background(), cpu.New(), c, ProfileOptions{Size: 64, Iters: 1})
	if err != nil {
		t.Fatal(err)
	}
	if Totals(rows).Params != m.NumParams() {
		t.Errorf("profile counts %d parameters, the model %d", Totals(rows).Params, m.NumParams())
	}
	tiny, _ := Variant("convnext_tiny")
	for norm, want := range map[string]bool{"layernorm": true, "batchnorm": false} {
		tiny.Stem = &PartSpec{Kind: "patchify", Dim: 96, Stride: 4, Params: Params{"norm": norm}}
		if tiny.ConvNeXtOnly() != want {
			t.Errorf("convnext_tiny with a %s patchify stem: ConvNeXtOnly %v", norm, !want)
		}
	}
	for key, v := range map[string]any{"ratio": 0.0, "kernel": 4, "act": "silu", "norms": "some", "norm": "groupnorm", "activations": "one", "dw_first": 1} {
		bad := c
		bad.Stages = slices.Clone(c.Stages)
		p := roadmapBlockParams().Merge(Params{key: v})
		bad.Stages[0].Params = p
		err := bad.Validate()
		if err == nil || !strings.Contains(err.Error(), "field ") {
			t.Errorf("%s = %v: %v", key, v, err)
		}
	}
}
