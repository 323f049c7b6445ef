package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/prune"
	"github.com/nextconv/nextconv/trainer"
)

// pruneCmd removes MLP hidden channels from a float checkpoint and writes
// the smaller model to -out: model.safetensors (weights, its configuration
// with the new per-block hidden widths, the run configuration) and
// config.toml (that run configuration with model.pretrained pointing at
// model.safetensors and train.out_dir at -out/finetune, so that
// `train -config OUT/config.toml` fine-tunes it).
func pruneCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("train prune", "usage: train prune -checkpoint C -ratio R [-criterion l1|grn|taylor] [-scope global|layer] [-calib N] -out DIR")
	ckpt := fs.String("checkpoint", "", "float checkpoint written by train (required)")
	ratio := fs.Float64("ratio", 0, "fraction of the MLP hidden channels to remove, in (0, 1) (required)")
	crit := fs.String("criterion", "l1", "l1 (fc1 row + fc2 column L1 norm), grn (|GRN γ|) or taylor (|Σ a·∂L/∂a| on calibration batches)")
	scope := fs.String("scope", "global", "global (one threshold over all blocks, each block's scores divided by their mean) or layer (the same ratio in every block)")
	calib := fs.Int("calib", 8, "training batches (train.batch_size images, evaluation transforms) the taylor criterion scores on")
	out := fs.String("out", "", "directory to write model.safetensors and config.toml to (required)")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return errors.New("train prune: -checkpoint and -out are required")
	}
	opts := prune.Options{Ratio: *ratio, Criterion: prune.Criterion(*crit), Scope: prune.Scope(*scope)}
	if err := opts.Check(); err != nil {
		return fmt.Errorf("train prune: %w", err)
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(*out, "model.safetensors")
	res, pruned, err := trainer.PruneCheckpoint(ctx, be, *ckpt, path, opts, *calib)
	if err != nil {
		return fmt.Errorf("train prune: %w", err)
	}
	pruned.Model.Pretrained = path
	pruned.Train.OutDir = filepath.Join(*out, "finetune")
	toml := filepath.Join(*out, "config.toml")
	if err := fsutil.WriteAtomic(toml, func(w io.Writer) error { _, err := io.WriteString(w, pruned.TOML()); return err }); err != nil {
		return err
	}
	size := cmp.Or(pruned.Data.InputSize, res.Model.Config.InputSize)
	if info, err := trainer.DataInfo(pruned.Data); err == nil && pruned.Data.InputSize == 0 {
		size = info.H // the dataset's native size
	}
	before, err := totalMACs(res.Original, size)
	if err != nil {
		return err
	}
	after, err := totalMACs(res.Model, size)
	if err != nil {
		return err
	}
	fmt.Printf("pruned %s (criterion %s, scope %s, ratio %v): %d → %d parameters, %.2f → %.2f MMACs at %d² (%.1f%% fewer)\n", *ckpt, res.Options.Criterion, res.Options.Scope,
		*ratio, res.ParamsBefore, res.ParamsAfter, float64(before)/1e6, float64(after)/1e6, size, 100*(1-float64(after)/float64(before)))
	for i, s := range res.Sites {
		fmt.Printf("  stages.%d.blocks.%d: hidden %d → %d\n", s.Stage, s.Index, res.Hidden[i], res.Kept[i])
	}
	fmt.Printf("wrote %s and %s (fine-tune: train -config %s)\n", path, toml, toml)
	return nil
}

// totalMACs returns m's multiply-accumulates for one size×size image.
func totalMACs(m *models.Model, size int) (int64, error) {
	rows, err := m.Describe(1, size, size, 4)
	if err != nil {
		return 0, err
	}
	return models.Totals(rows).MACs, nil
}
