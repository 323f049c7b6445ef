package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nextconv/nextconv/trainer"
)

// pretrain runs FCMAE pre-training as the configuration's [model], [data],
// [train], [optim] and [fcmae] sections say.
func pretrain(ctx context.Context, args []string) error {
	fs := newFlagSet("train pretrain", "usage: train pretrain -config FILE [-set section.key=value ...] [-backend B] [-overwrite]")
	path := fs.String("config", "", "TOML configuration file with an [fcmae] section (required; see configs/fashion_mnist_fcmae.toml)")
	var sets multiFlag
	fs.Var(&sets, "set", "override one setting, section.key=value (repeatable), e.g. -set fcmae.mask_ratio=0.5")
	backend := fs.String("backend", "", "override train.backend: cpu, cuda or cudasim")
	overwrite := fs.Bool("overwrite", false, "replace the run out_dir holds (train.overwrite)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("pretrain: -config is required (see configs/)")
	}
	if *backend != "" {
		sets = append(sets, "train.backend="+*backend)
	}
	if *overwrite {
		sets = append(sets, "train.overwrite=true")
	}
	cfg, be, closeBE, err := openRun(*path, sets)
	if err != nil {
		return err
	}
	defer closeBE()
	p, err := trainer.NewPretrainer(ctx, cfg, be, os.Stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	res, err := p.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("done: %d pre-training steps in %.0f s, masked-patch loss %.4f; fine-tune from %s/last.safetensors\n",
		res.Steps, res.Seconds, res.Loss, cfg.Train.OutDir)
	return nil
}
