package models

import (
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// shapeOnly is a backend whose tensors have shapes but no memory, so that
// the 660M-parameter models can be built and counted in a test.
type shapeOnly struct{ *cpu.Backend }

type lenStorage int

func (n lenStorage) Len() int                       { return int(n) }
func (lenStorage) DType() kernels.DType             { return kernels.Float32 }
func (lenStorage) Slice(off, n int) kernels.Storage { return lenStorage(n) }

func (shapeOnly) Alloc(s kernels.Shape) (kernels.Tensor, error) {
	return kernels.Tensor{Shape: s.Clone(), Data: lenStorage(s.Len())}, nil
}
func (o shapeOnly) AllocDType(s kernels.Shape, _ kernels.DType) (kernels.Tensor, error) {
	return o.Alloc(s)
}
func (shapeOnly) Upload(kernels.Tensor, []float32) error   { return nil }
func (shapeOnly) Download([]float32, kernels.Tensor) error { return nil }
func (shapeOnly) Copy(dst, src kernels.Tensor) error       { return nil }
func (shapeOnly) Zero(kernels.Tensor) error                { return nil }

// TestVariantCounts checks exact parameter counts at 1000 classes (official
// models instantiated in PyTorch, docs/CONVNEXTV2.md §1.10) and conv+linear MACs
// at 224 against the published GFLOPs (which are MACs) within 0.5%.
func TestVariantCounts(t *testing.T) {
	cases := []struct {
		name   string
		params int
		gmacs  float64
	}{
		{"convnextv2_atto", 3_708_400, 0.547},
		{"convnextv2_femto", 5_233_240, 0.780},
		{"convnextv2_pico", 9_066_280, 1.367},
		{"convnextv2_nano", 15_623_800, 2.446},
		{"convnextv2_tiny", 28_635_496, 4.456},
		{"convnextv2_base", 88_717_800, 15.355},
		{"convnextv2_large", 197_956_840, 34.361},
		{"convnextv2_huge", 660_289_640, 114.922},
		// V1: parameters as timm and the official code count them (each V2
		// block trades its 2·4C GRN parameters for a C layer scale); GFLOPs
		// from the V1 README/paper (T 4.5 — 4.47 in the V2 README —, S 8.7,
		// B 15.4, L 34.4, XL 60.9).
		{"convnext_tiny", 28_589_128, 4.47},
		{"convnext_small", 50_223_688, 8.7},
		{"convnext_base", 88_591_464, 15.4},
		{"convnext_large", 197_767_336, 34.4},
		{"convnext_xlarge", 350_196_968, 60.9},
	}
	for _, tc := range cases {
		cfg, err := Variant(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.NumParams() != tc.params {
			t.Errorf("%s: %d parameters, want %d", tc.name, m.NumParams(), tc.params)
		}
		rows, err := m.Describe(1, 224, 224, 4)
		if err != nil {
			t.Fatal(err)
		}
		tot := Totals(rows)
		if tot.Params != tc.params {
			t.Errorf("%s: Describe counts %d parameters, model has %d", tc.name, tot.Params, tc.params)
		}
		if g := float64(tot.MACs) / 1e9; math.Abs(g-tc.gmacs) > 0.005*tc.gmacs {
			t.Errorf("%s: %.3f GMACs at 224, want %.3f ±0.5%%", tc.name, g, tc.gmacs)
		}
	}
}

// TestTimmV1SmallCounts checks timm's small V1 models against timm's
// published parameter counts (results CSVs: 3.70, 5.22, 9.05, 15.59 M) and
// their MACs, which equal the V2 models' (GRN and layer scale have none).
func TestTimmV1SmallCounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		mparams float64
		v2      string
	}{{"convnext_atto", 3.70, "atto"}, {"convnext_femto", 5.22, "femto"}, {"convnext_pico", 9.05, "pico"}, {"convnext_nano", 15.59, "nano"}} {
		cfg, _ := Variant(c.name)
		v2, _ := Variant(c.v2)
		m, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := build(shapeOnly{cpu.New()}, v2, 0, nil)
		if got := float64(m.NumParams()) / 1e6; math.Abs(got-c.mparams) > 0.005 {
			t.Errorf("%s: %.3f M parameters, timm lists %.2f M", c.name, got, c.mparams)
		}
		blocks := 0
		for i, d := range cfg.Depths {
			blocks += d * cfg.Dims[i]
		}
		if m2.NumParams()-m.NumParams() != 7*blocks {
			t.Errorf("%s: %d parameters fewer than %s, want 7·ΣC = %d", c.name, m2.NumParams()-m.NumParams(), c.v2, 7*blocks)
		}
		r1, _ := m.Describe(1, 224, 224, 4)
		r2, _ := m2.Describe(1, 224, 224, 4)
		if Totals(r1).MACs != Totals(r2).MACs {
			t.Errorf("%s: %d MACs, %s has %d", c.name, Totals(r1).MACs, c.v2, Totals(r2).MACs)
		}
	}
}

// TestAttoBreakdown checks the per-part parameter counts of atto
// (docs/CONVNEXTV2.md §1.10) and the smaller heads.
func TestAttoBreakdown(t *testing.T) {
	cfg, _ := Variant("atto")
	m, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(prefix string) int {
		n := 0
		for _, p := range m.Params() {
			if strings.HasPrefix(p.Name, prefix) {
				n += p.Value.Len()
			}
		}
		return n
	}
	for _, c := range []struct {
		prefix string
		want   int
	}{
		{"stem.", 2040}, {"stages.1.downsample.", 12960}, {"stages.2.downsample.", 51520}, {"stages.3.downsample.", 205440},
		{"stages.0.blocks.", 30800}, {"stages.1.blocks.", 112800}, {"stages.2.blocks.", 1291200}, {"stages.3.blocks.", 1680000},
		{"head.norm.", 640}, {"head.fc.", 321000},
	} {
		if got := sum(c.prefix); got != c.want {
			t.Errorf("%s*: %d parameters, want %d", c.prefix, got, c.want)
		}
	}
	if len(m.Params()) != 140 {
		t.Errorf("atto has %d tensors, want 140", len(m.Params()))
	}
	for classes, want := range map[int]int{100: 3_419_500, 10: 3_390_610} {
		c := cfg
		c.NumClasses = classes
		m, _ := build(shapeOnly{cpu.New()}, c, 0, nil)
		if m.NumParams() != want {
			t.Errorf("atto with %d classes: %d parameters, want %d", classes, m.NumParams(), want)
		}
	}
}

// TestSmallInputMACs checks MACs at 32×32 with 100 classes for each stem
// patch (docs/CONVNEXTV2.md §1.11).
func TestSmallInputMACs(t *testing.T) {
	for _, c := range []struct {
		variant string
		patch   int
		mmacs   float64
	}{
		{"atto", 4, 11.2}, {"atto", 2, 44.3}, {"atto", 1, 176.8},
		{"femto", 4, 15.9}, {"pico", 2, 111.0}, {"nano", 1, 794.7}, {"tiny", 2, 362.8},
	} {
		cfg, _ := Variant(c.variant)
		cfg.NumClasses, cfg.StemPatch = 100, c.patch
		m, err := build(shapeOnly{cpu.New()}, cfg, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := m.Describe(1, 32, 32, 4)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(Totals(rows).MACs) / 1e6; math.Abs(got-c.mmacs) > 0.05+0.001*c.mmacs {
			t.Errorf("%s stem %d at 32px: %.1f M MACs, want %.1f", c.variant, c.patch, got, c.mmacs)
		}
	}
}

func TestDropPathRates(t *testing.T) {
	cfg, _ := Variant("atto")
	cfg.DropPath = 0.1
	want := []float64{0, .00909, .01818, .02727, .03636, .04545, .05455, .06364, .07273, .08182, .09091, .1}
	got := cfg.DropPathRates()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 5e-6 {
			t.Fatalf("rates %v, want %v", got, want)
		}
	}
}

func TestCompoundScaling(t *testing.T) {
	cfg, _ := Variant("atto")
	s, err := cfg.Scale(1, EfficientNetCompound())
	if err != nil {
		t.Fatal(err)
	}
	// depth ceil(d·1.2), width 40·1.1 = 44 → 48 (multiple of 8, nearest-up rule),
	// 80·1.1 = 88, 160·1.1 = 176, 320·1.1 = 352; resolution round(224·1.15) = 258.
	if want := []int{3, 3, 8, 3}; !equalInts(s.Depths, want) {
		t.Errorf("depths %v, want %v", s.Depths, want)
	}
	if want := []int{48, 88, 176, 352}; !equalInts(s.Dims, want) {
		t.Errorf("dims %v, want %v", s.Dims, want)
	}
	if s.InputSize != 258 {
		t.Errorf("input size %d, want 258", s.InputSize)
	}
	for _, d := range s.Dims {
		if d%8 != 0 {
			t.Errorf("width %d not a multiple of 8", d)
		}
	}
	if same, _ := cfg.Scale(0, EfficientNetCompound()); !equalInts(same.Dims, cfg.Dims) || !equalInts(same.Depths, cfg.Depths) {
		t.Error("φ = 0 changed the model")
	}
	if _, err := cfg.Scale(-1, EfficientNetCompound()); err == nil {
		t.Error("negative φ accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVariantErrors(t *testing.T) {
	if _, err := Variant("convnextv2_gigantic"); err == nil || !strings.Contains(err.Error(), "convnextv2_atto") {
		t.Errorf("unknown variant: %v", err)
	}
	cfg, _ := Variant("atto")
	cfg.Kernel = 4
	if err := cfg.Validate(); err == nil {
		t.Error("even kernel accepted")
	}
	cfg, _ = Variant("atto")
	cfg.Dims = cfg.Dims[:3]
	if err := cfg.Validate(); err == nil {
		t.Error("3 dims for 4 depths accepted")
	}
}
