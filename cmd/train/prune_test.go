package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/prune"
	"github.com/nextconv/nextconv/trainer"
)

// TestPruneCommand: `train prune` on a checkpoint with the Fashion-MNIST
// run configuration writes a smaller model that loads with no knowledge of
// the original (its logits equal an in-process pruning with the same
// options and calibration batches), evaluates with `train eval`, and
// fine-tunes with `train -config OUT/config.toml`.
func TestPruneCommand(t *testing.T) {
	run, err := trainer.Load("../../configs/fashion_mnist.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run.Data.Root); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	dir := t.TempDir()
	run.Train.MaxSteps, run.Train.BatchSize, run.Train.EvalBatchSize, run.Train.OutDir = 3, 16, 1000, filepath.Join(dir, "orig")
	be := cpu.New()
	m, err := models.New(be, tinyConfig(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range prune.Sites(m) { // trained-looking GRN γ (it starts at zero)
		g := make([]float32, s.Block.GRN.C)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		if err := be.Upload(s.Block.GRN.Gamma.Value, g); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	if err := trainer.SaveModel(m, ckpt, run); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "pruned")
	if code := run1(t, "prune", "-checkpoint", ckpt, "-ratio", "0.5", "-criterion", "taylor", "-calib", "2", "-out", out); code != 0 {
		t.Fatalf("train prune: exit status %d", code)
	}
	calib, err := trainer.CalibrationBatches(context.Background(), run, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := prune.Prune(m, prune.Options{Ratio: 0.5, Criterion: prune.Taylor}, calib)
	if err != nil {
		t.Fatal(err)
	}
	got, _, stored, err := trainer.OpenModel(be, filepath.Join(out, "model.safetensors"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumParams() != want.ParamsAfter || got.NumParams() >= m.NumParams() {
		t.Errorf("pruned checkpoint has %d parameters; in-process pruning %d, original %d", got.NumParams(), want.ParamsAfter, m.NumParams())
	}
	var hidden []int
	for _, s := range prune.Sites(got) {
		hidden = append(hidden, s.Block.Config.Hidden())
	}
	if !slices.Equal(hidden, want.Kept) {
		t.Errorf("stored hidden widths %v, want %v", hidden, want.Kept)
	}
	x := calib[0]
	logits := func(mm *models.Model) []float32 {
		xt, _ := be.Alloc(kernels.Shape{x.N, x.H, x.W, x.C})
		if err := be.Upload(xt, x.Images); err != nil {
			t.Fatal(err)
		}
		mm.SetTraining(false)
		y, err := mm.Forward(xt)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, y.Len())
		if err := be.Download(v, y); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if a, b := logits(got), logits(want.Model); !slices.Equal(a, b) {
		t.Errorf("logits of the loaded pruned checkpoint differ from the in-process pruning")
	}
	mc, err := stored.ModelConfig(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := mc.Spec().Stages[0].Blocks[0].Int("hidden", 0); err != nil || h != want.Kept[0] {
		t.Errorf("stored run configuration's stage 0: hidden %d (%v), want %d", h, err, want.Kept[0])
	}
	if code := run1(t, "eval", "-checkpoint", filepath.Join(out, "model.safetensors")); code != 0 {
		t.Fatalf("train eval of the pruned checkpoint: exit status %d", code)
	}
	if code := run1(t, "-config", filepath.Join(out, "config.toml")); code != 0 {
		t.Fatalf("fine-tuning the pruned model: exit status %d", code)
	}
	tuned, _, _, err := trainer.OpenModel(be, filepath.Join(out, "finetune", "last.safetensors"), false)
	if err != nil {
		t.Fatal(err)
	}
	if tuned.NumParams() != want.ParamsAfter {
		t.Errorf("fine-tuned model has %d parameters, want %d", tuned.NumParams(), want.ParamsAfter)
	}
	bad := filepath.Join(dir, "bad")
	if code := run1(t, "prune", "-checkpoint", ckpt, "-ratio", "1", "-out", bad); code != 1 {
		t.Errorf("-ratio 1: exit status %d, want 1", code)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("-ratio 1 created its -out directory")
	}
}

func run1(t *testing.T, args ...string) int {
	t.Helper()
	return run(context.Background(), args)
}
