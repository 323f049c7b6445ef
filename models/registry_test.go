package models

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
)

// counted is a test layer with a parameter and a buffer: a per-channel
// scale (LayerScale) plus a "seen" buffer of one element per channel.
type counted struct {
	*layers.LayerScale
	seen *layers.Param
}

func (c counted) Buffers() []*layers.Param { return []*layers.Param{c.seen} }

// opaque is a layer with no Describe.
type opaque struct{ *layers.GELU }

func (opaque) Describe() {} // not layers.Describer's signature

// Two test kinds registered the way another package registers its blocks:
// "test_counted" (a parameter and a buffer, keeps width and resolution) and
// "test_opaque" (no Describer).
func init() {
	same := func(a BlockArgs) error {
		if a.In != a.Out || a.Stride != 1 {
			return fmt.Errorf("field stride: test kind keeps its shape: %w", ErrSpec)
		}
		return nil
	}
	cost := func(a BlockArgs, n, h, w int) Cost {
		return Cost{Params: float64(a.Out), Saved: float64(n * h * w * a.Out), OutH: h, OutW: w}
	}
	RegisterBlock("test_counted", BlockKind{Check: same, Cost: cost, Build: func(a BlockArgs) (layers.Layer, error) {
		ls, err := layers.NewLayerScale(a.Backend, a.Name+".ls", a.Name+".gamma", a.Out, 1)
		if err != nil {
			return nil, err
		}
		v, err := a.Backend.Alloc(kernels.Shape{a.Out})
		if err != nil {
			return nil, err
		}
		return layers.NewSequential(a.Name, counted{ls, &layers.Param{Name: a.Name + ".seen", Value: v}}), nil
	}})
	RegisterBlock("test_widen", BlockKind{
		Check: func(a BlockArgs) error {
			if a.Stride != 1 {
				return fmt.Errorf("field stride: %d: %w", a.Stride, ErrSpec)
			}
			return nil
		},
		Cost: func(a BlockArgs, n, h, w int) Cost {
			return Cost{Params: float64(a.In*a.Out + a.Out), Saved: float64(n * h * w * a.Out), OutH: h, OutW: w}
		},
		Build: func(a BlockArgs) (layers.Layer, error) {
			return layers.NewLinear(a.Backend, a.Name+".fc", a.In, a.Out, true, a.Init)
		}})
	RegisterBlock("test_opaque", BlockKind{Check: same, Cost: cost, Build: func(a BlockArgs) (layers.Layer, error) {
		return opaque{layers.NewGELU(a.Backend, a.Name, kernels.GELUErf)}, nil
	}})
}

// TestRegisterPreset checks that a registered preset is listed and
// returned by Variant as an independent copy.
func TestRegisterPreset(t *testing.T) {
	RegisterPreset("test_preset_counted", tinySpec("test_counted"))
	if !slices.Contains(Variants(), "test_preset_counted") {
		t.Errorf("Variants() lacks the preset: %v", Variants())
	}
	c, err := Variant("test_preset_counted")
	if err != nil || c.Name != "test_preset_counted" || len(c.Stages) != 2 {
		t.Fatalf("Variant: %+v, %v", c, err)
	}
	c.Stages[1].Depth = 9
	c.Stages[0].Params = Params{"kernel": 3}
	again, _ := Variant("test_preset_counted")
	if again.Stages[1].Depth != 2 || again.Stages[0].Params != nil {
		t.Errorf("changing a returned preset changed the registry: %+v", again.Stages)
	}
	if _, err := New(cpu.New(), again, 1); err != nil {
		t.Error(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a ConvNeXt variant's name did not panic")
		}
	}()
	RegisterPreset("convnextv2_atto", again)
}

// TestBlockOverridesAndNaming mixes block kinds and widths within a stage
// through per-block tables and names the blocks timm's EfficientNet way.
func TestBlockOverridesAndNaming(t *testing.T) {
	c := tinySpec("convnext")
	c.Names = "blocks"
	c.Stages[0].Depth = 3
	c.Stages[0].Blocks = []Params{{}, {"kind": "test_widen", "dim": 12}, {"kind": "test_widen", "dim": 6}}
	c.Stages[1].Dim = 6
	m := mustModel(t, c)
	if got := m.Config.Dims; !slices.Equal(got, []int{6, 6}) {
		t.Errorf("stage widths %v, want [6 6] (the first stage ends in a 6-wide block)", got)
	}
	if m.Stages[1].Downsample != nil {
		t.Errorf("a downsample where the width does not change")
	}
	var names []string
	for _, p := range m.Params() {
		names = append(names, p.Name)
	}
	for _, want := range []string{"blocks.0.0.conv_dw.weight", "blocks.0.1.fc.weight", "blocks.0.2.fc.bias", "blocks.1.1.mlp.fc2.weight", "fc.weight", "norm.bias"} {
		if !slices.Contains(names, want) {
			t.Errorf("no parameter %s in %v", want, names)
		}
	}
	if fc := m.Stages[0].Blocks[2].Params()[0]; !fc.Shape().Equal(kernels.Shape{6, 12}) {
		t.Errorf("%s %v, want [6 12]", fc.Name, fc.Shape())
	}
	if err := m.CheckFootprint(1, 8, 8); err != nil {
		t.Error(err)
	}
	if _, err := m.StateDict(Official); err == nil {
		t.Error("official naming of a non-ConvNeXt spec accepted")
	}
	c.Stages[0].Blocks[2] = Params{"kind": "test_widen", "dim": -1}
	if err := c.Validate(); err == nil || !containsAll(err.Error(), "stage 0 block 2", "field dim") {
		t.Errorf("negative block width: %v", err)
	}
	c.Stages[0].Blocks[2] = Params{"kind": 7}
	if err := c.Validate(); err == nil || !containsAll(err.Error(), "stage 0 block 2", "field kind") {
		t.Errorf("numeric block kind: %v", err)
	}
	c.Stages[0].Blocks[2], c.Names = Params{}, "timm"
	if err := c.Validate(); err == nil || !containsAll(err.Error(), "names", `"timm"`) {
		t.Errorf("unknown naming: %v", err)
	}
}

// tinySpec is a two-stage spec whose second stage is of the given kind.
func tinySpec(kind string) Config {
	return Config{Name: "t", InChans: 2, NumClasses: 3, StemPatch: 2, HeadInitScale: 1, Eps: 1e-6,
		Stages: []StageSpec{{Kind: "convnext", Depth: 1, Dim: 8}, {Kind: kind, Depth: 2, Dim: 8, Stride: 1}}}
}

// TestRegisteredKindBuffers builds a model with a registered kind from
// outside the ConvNeXt family: its buffers come after the parameters in
// the state dict, are not in the arena, round-trip through a checkpoint,
// and a checkpoint without them is refused naming them.
func TestRegisteredKindBuffers(t *testing.T) {
	be := cpu.New()
	m, err := New(be, tinySpec("test_counted"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckFootprint(2, 8, 10); err != nil {
		t.Error(err)
	}
	bufs := m.Buffers()
	if len(bufs) != 2 || bufs[0].Name != "stages.1.blocks.0.seen" || bufs[1].Name != "stages.1.blocks.1.seen" {
		t.Fatalf("buffers %v", bufs)
	}
	for _, p := range m.Params() {
		if slices.Contains(bufs, p) {
			t.Errorf("buffer %s is in the arena", p.Name)
		}
	}
	copy(bufs[1].Value.Host32(), []float32{1, 2, 3, 4, 5, 6, 7, 8})
	sd, err := m.StateDict(Timm)
	if err != nil {
		t.Fatal(err)
	}
	if last := sd[len(sd)-1]; last.Name != "stages.1.blocks.1.seen" || last.Data[7] != 8 {
		t.Errorf("state dict ends with %s %v", last.Name, last.Data)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, Timm, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := New(be, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Load(path); err != nil {
		t.Fatal(err)
	}
	if got := m2.Buffers()[1].Value.Host32(); got[0] != 1 || got[7] != 8 {
		t.Errorf("loaded buffer %v", got)
	}
	var ce *CheckpointError
	if err := m2.LoadTensors("partial", sd[:len(sd)-1]); !errors.As(err, &ce) || !slices.Equal(ce.Missing, []string{"stages.1.blocks.1.seen"}) {
		t.Errorf("checkpoint without a buffer: %v", err)
	}
	// Layer decay places the outside kind's parameters by their stage and
	// block, like ConvNeXt's.
	f, err := m.LayerDecay(0.5, "single")
	if err != nil {
		t.Fatal(err)
	}
	if got := f("stages.1.blocks.1.gamma"); got != 0.5 {
		t.Errorf("last block's multiplier %v, want 0.5", got)
	}
	if got := f("stages.1.blocks.0.gamma"); got != 0.25 {
		t.Errorf("second-to-last block's multiplier %v, want 0.25", got)
	}
}

// TestDescribeNeedsDescriber checks that a layer without layers.Describer
// makes Describe fail naming it, instead of counting it as free.
func TestDescribeNeedsDescriber(t *testing.T) {
	m, err := New(cpu.New(), tinySpec("test_opaque"), 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Describe(1, 8, 8, 4)
	if !errors.Is(err, layers.ErrNoDescribe) || !containsAll(err.Error(), "stages.1.blocks.0", "opaque") {
		t.Errorf("describe: %v", err)
	}
	if rows, err := mustModel(t, tinySpec("test_counted")).Describe(1, 8, 8, 4); err != nil || len(rows) == 0 {
		t.Errorf("describe of a described kind: %v", err)
	}
}

// TestFCMAEConvNeXtOnly checks that sparse pre-training refuses a spec with
// blocks it cannot mask, naming the block, and takes a ConvNeXt spec.
func TestFCMAEConvNeXtOnly(t *testing.T) {
	fc := DefaultFCMAE()
	fc.DecoderDim, fc.DecoderDepth = 8, 1
	_, err := NewFCMAE(cpu.New(), tinySpec("test_counted"), fc, 1)
	if err == nil || !containsAll(err.Error(), "stages.1.blocks.0", "not a ConvNeXt block") {
		t.Errorf("FCMAE of a non-ConvNeXt spec: %v", err)
	}
	if _, err := NewFCMAE(cpu.New(), tinySpec("convnext"), fc, 1); err != nil {
		t.Errorf("FCMAE of a ConvNeXt spec: %v", err)
	}
}

func mustModel(t *testing.T, c Config) *Model {
	t.Helper()
	m, err := New(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestBuildBlock builds a bottleneck alone, with a key and a projection,
// and checks the errors for an unknown kind, an unknown key and a group
// count that does not divide the middle width, each a *SpecError naming the
// field.
func TestBuildBlock(t *testing.T) {
	a := BlockArgs{Name: "layer1.0", In: 5, Out: 12, Stride: 2, Params: Params{"groups": 3}, Backend: cpu.New()}
	l, err := BuildBlock("bottleneck", a)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Params() {
		names = append(names, p.Name)
	}
	for _, want := range []string{"layer1.0.conv2.weight", "layer1.0.downsample.0.weight"} {
		if !slices.Contains(names, want) {
			t.Errorf("no parameter %s in %v", want, names)
		}
	}
	for _, bad := range []struct {
		kind   string
		params Params
		field  string
	}{{"bottlenek", nil, "field kind"}, {"bottleneck", Params{"width": 4}, "field width"}, {"bottleneck", Params{"groups": 2, "mid": 9}, "field groups"}} {
		a.Params = bad.params
		_, err := BuildBlock(bad.kind, a)
		var se *SpecError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("BuildBlock(%q, %v): %v, want a SpecError naming %s", bad.kind, bad.params, err, bad.field)
		}
	}
}
