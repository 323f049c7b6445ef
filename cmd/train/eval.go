package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// eval evaluates a checkpoint on its dataset's test split.
func eval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("train eval", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "checkpoint to evaluate (required)")
	path := fs.String("config", "", "TOML configuration for the data (default: the one stored in the checkpoint)")
	ema := fs.Bool("ema", false, "evaluate the checkpoint's EMA weights")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ckpt == "" {
		return errors.New("-checkpoint is required")
	}
	cfg, err := runConfig(*ckpt, *path)
	if err != nil {
		return err
	}
	mc, err := models.ConfigFromCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	data, err := trainer.LoadData(ctx, cfg.Data)
	if err != nil {
		return err
	}
	if mc.InChans != data.Info.C || mc.NumClasses != data.Info.NumClasses() {
		return fmt.Errorf("checkpoint %s is a model for %d channels and %d classes; dataset %s has %d and %d",
			*ckpt, mc.InChans, mc.NumClasses, cfg.Data.Dataset, data.Info.C, data.Info.NumClasses())
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	m, err := models.New(be, mc, 0)
	if err != nil {
		return err
	}
	if err := trainer.LoadWeights(m, *ckpt, *ema); err != nil {
		return err
	}
	res, err := trainer.Evaluate(ctx, m, data.Test, data.EvalPipe, cfg.Train.EvalBatchSize, cfg.Data.Workers)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d test images, top-1 %.2f%%, top-5 %.2f%%, loss %.4f\n", *ckpt, res.Images, res.Top1, res.Top5, res.Loss)
	return nil
}

// runConfig returns the configuration in path, or the run configuration
// stored in checkpoint ckpt when path is empty.
func runConfig(ckpt, path string) (trainer.Config, error) {
	if path != "" {
		return trainer.Load(path)
	}
	cfg, err := trainer.RunConfigFromCheckpoint(ckpt)
	if err != nil {
		return cfg, fmt.Errorf("%w (pass -config)", err)
	}
	return cfg, nil
}
