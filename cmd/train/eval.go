package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/trainer"
)

// eval evaluates a checkpoint — float, QAT or int8 export — on its
// dataset's test split.
func eval(ctx context.Context, args []string) error {
	fs := newFlagSet("train eval", "usage: train eval -checkpoint FILE [-config FILE] [-ema] [-backend B]")
	ckpt := fs.String("checkpoint", "", "checkpoint or int8 export to evaluate (required)")
	path := fs.String("config", "", "TOML configuration for the data (default: the one stored in the checkpoint, which never downloads)")
	ema := fs.Bool("ema", false, "evaluate the checkpoint's EMA weights")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" {
		return errors.New("-checkpoint is required")
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	m, qs, cfg, err := trainer.OpenModel(be, *ckpt, *ema)
	if err != nil {
		return err
	}
	if *path != "" {
		if cfg, err = trainer.Load(*path); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := trainer.LoadData(ctx, cfg.Data)
	if err != nil {
		return err
	}
	mc := m.Config
	if mc.InChans != data.Info.C || mc.NumClasses != data.Info.NumClasses() {
		return fmt.Errorf("checkpoint %s is a model for %d channels and %d classes; dataset %s has %d and %d",
			*ckpt, mc.InChans, mc.NumClasses, cfg.Data.Dataset, data.Info.C, data.Info.NumClasses())
	}
	res, err := trainer.Evaluate(ctx, m, data.Test, data.EvalPipe, cfg.Train.EvalBatchSize, cfg.Data.Workers)
	if err != nil {
		return err
	}
	kind := "float"
	if qs != nil {
		kind = fmt.Sprintf("int8 (%d quantized layers)", len(qs))
	}
	fmt.Printf("%s [%s]: %d test images, top-1 %.2f%%, top-5 %.2f%%, loss %.4f\n", *ckpt, kind, res.Images, res.Top1, res.Top5, res.Loss)
	return nil
}
