package models

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels/cpu"
)

func smallConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dims, cfg.Depths = []int{8, 16, 24, 32}, []int{1, 1, 2, 1}
	cfg.NumClasses, cfg.InChans = 5, 1
	return cfg
}

// TestCheckpointRoundTrip saves in both namings and loads into a model with
// other weights: every tensor must come back identical.
func TestCheckpointRoundTrip(t *testing.T) {
	be := cpu.New()
	cfg := smallConfig(t)
	a, err := New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, naming := range []Naming{Timm, Official} {
		path := filepath.Join(dir, naming.String()+".safetensors")
		if err := a.Save(path, naming, map[string]string{"note": "test"}); err != nil {
			t.Fatal(err)
		}
		b, err := New(be, cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Load(path); err != nil {
			t.Fatalf("%v: %v", naming, err)
		}
		for i, p := range a.Params() {
			testutil.AllClose(t, naming.String()+" "+p.Name, b.Params()[i].Value.Host32(), p.Value.Host32(), 0, 0)
		}
		got, err := ConfigFromCheckpoint(path)
		if err != nil || got.Name != cfg.Name || !equalInts(got.Dims, cfg.Dims) || got.InChans != 1 {
			t.Errorf("%v: stored config %+v, %v", naming, got, err)
		}
	}
	// Official names on disk: GRN is (1,1,1,E), blocks are stages.i.j.
	tensors, meta, err := ReadSafetensors(filepath.Join(dir, "official.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if meta[MetaNaming] != "official" || meta["note"] != "test" {
		t.Errorf("metadata %v", meta)
	}
	found := false
	for _, tn := range tensors {
		if tn.Name == "stages.0.0.grn.gamma" {
			found = len(tn.Shape) == 4 && tn.Shape[3] == 32
		}
		if strings.Contains(tn.Name, "blocks") || strings.HasPrefix(tn.Name, "stem") {
			t.Errorf("timm name %s in an official checkpoint", tn.Name)
		}
	}
	if !found {
		t.Error("stages.0.0.grn.gamma (1,1,1,32) not in the official checkpoint")
	}
	// timm names on disk: atto-style models keep 1×1-conv MLP weights.
	tensors, _, _ = ReadSafetensors(filepath.Join(dir, "timm.safetensors"))
	for _, tn := range tensors {
		if tn.Name == "stages.0.blocks.0.mlp.fc1.weight" && len(tn.Shape) != 4 {
			t.Errorf("fc1 weight shape %v, want (E, C, 1, 1)", tn.Shape)
		}
	}
}

// TestCheckpointErrors covers corrupt, truncated and mismatched files: each
// gives a clear error and leaves the model's weights untouched.
func TestCheckpointErrors(t *testing.T) {
	be := cpu.New()
	cfg := smallConfig(t)
	m, err := New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := m.Save(good, Timm, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	before := append([]float32(nil), m.Arena.Values.Host32()...)

	truncated := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncated, raw[:len(raw)-100], 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("this is not a checkpoint at all"), 0o644)
	for _, p := range []string{truncated, garbage, filepath.Join(dir, "missing.safetensors")} {
		err := m.Load(p)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: got %v, want an error naming the file", filepath.Base(p), err)
		}
	}
	if _, err := ConfigFromCheckpoint(garbage); err == nil {
		t.Error("config from garbage accepted")
	}

	// A checkpoint of another model: wider stage 3, 7 classes, no GRN.
	other := cfg
	other.Dims = []int{8, 16, 24, 40}
	other.NumClasses = 7
	o, _ := New(be, other, 3)
	otherPath := filepath.Join(dir, "other.safetensors")
	o.Save(otherPath, Timm, nil)
	err = m.Load(otherPath)
	var ce *CheckpointError
	if !errors.As(err, &ce) || len(ce.Mismatched) == 0 {
		t.Fatalf("other model: got %v, want a CheckpointError with mis-shaped tensors", err)
	}
	for _, want := range []string{"head.fc.weight: file [7 40], model [5 32]", "stages.3.downsample.1.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	v1 := cfg
	v1.GRN, v1.LayerScale = false, 1e-6
	o1, _ := New(be, v1, 3)
	v1Path := filepath.Join(dir, "v1.safetensors")
	o1.Save(v1Path, Timm, nil)
	err = m.Load(v1Path)
	if !errors.As(err, &ce) || len(ce.Missing) != 5*2 || len(ce.Unexpected) != 5 {
		t.Errorf("V1 checkpoint into V2 model: got %v", err)
	}
	testutil.AllClose(t, "weights after failed loads", m.Arena.Values.Host32(), before, 0, 0)
}

func TestNameMapping(t *testing.T) {
	for official, timm := range map[string]string{
		"downsample_layers.0.0.weight": "stem.0.weight",
		"downsample_layers.0.1.bias":   "stem.1.bias",
		"downsample_layers.2.1.weight": "stages.2.downsample.1.weight",
		"stages.0.1.dwconv.weight":     "stages.0.blocks.1.conv_dw.weight",
		"stages.2.5.pwconv1.bias":      "stages.2.blocks.5.mlp.fc1.bias",
		"stages.3.1.pwconv2.weight":    "stages.3.blocks.1.mlp.fc2.weight",
		"stages.1.0.grn.gamma":         "stages.1.blocks.0.mlp.grn.weight",
		"stages.1.0.grn.beta":          "stages.1.blocks.0.mlp.grn.bias",
		"stages.1.0.norm.weight":       "stages.1.blocks.0.norm.weight",
		"stages.1.0.gamma":             "stages.1.blocks.0.gamma",
		"norm.weight":                  "head.norm.weight",
		"head.bias":                    "head.fc.bias",
	} {
		if got := OfficialToTimm(official); got != timm {
			t.Errorf("OfficialToTimm(%s) = %s, want %s", official, got, timm)
		}
		if got := TimmToOfficial(timm); got != official {
			t.Errorf("TimmToOfficial(%s) = %s, want %s", timm, got, official)
		}
	}
}
