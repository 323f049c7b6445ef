package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestProfileStagesConfig profiles the network a [[model.stages]]
// configuration describes: the JSON table's total parameters are the
// model's, and its rows name the per-block layers.
func TestProfileStagesConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spec.toml")
	if err := os.WriteFile(cfg, []byte(`
[model]
stem_patch = 2

[[model.stages]]
kind = "convnext"
depth = 1
dim = 16
blocks = [{hidden = 24}]

[[model.stages]]
kind = "convnext"
depth = 2
dim = 32
kernel = 3
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "profile.json")
	if err := profile(context.Background(), []string{"-config", cfg, "-in-chans", "1", "-classes", "10", "-size", "28", "-iters", "1", "-json", out}); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Layers []models.LayerInfo `json:"layers"`
		Total  models.LayerInfo   `json:"total"`
	}
	if err := json.Unmarshal(buf, &table); err != nil {
		t.Fatal(err)
	}
	m, err := models.New(cpu.New(), models.Config{Name: "spec", InChans: 1, NumClasses: 10, StemPatch: 2, HeadInitScale: 1, Eps: 1e-6,
		Stages: []models.StageSpec{
			{Kind: "convnext", Depth: 1, Dim: 16, Blocks: []models.Params{{"hidden": 24}}},
			{Kind: "convnext", Depth: 2, Dim: 32, Params: models.Params{"kernel": 3}},
		}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if table.Total.Params != m.NumParams() {
		t.Errorf("profile counts %d parameters, the model has %d", table.Total.Params, m.NumParams())
	}
	found := false
	for _, r := range table.Layers {
		if r.Name == "stages.0.blocks.0.mlp.fc1" && r.Out[3] == 24 {
			found = true
		}
	}
	if !found {
		t.Errorf("no 24-wide stages.0.blocks.0.mlp.fc1 row in %+v", table.Layers)
	}
}
