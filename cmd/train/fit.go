package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/trainer"
)

// fit trains as the configuration says.
func fit(ctx context.Context, args []string) error {
	fs := newFlagSet("train", usage)
	path := fs.String("config", "", "TOML configuration file (required)")
	var sets multiFlag
	fs.Var(&sets, "set", "override one setting, section.key=value (repeatable), e.g. -set train.epochs=3")
	backend := fs.String("backend", "", "override train.backend: cpu, cuda or cudasim")
	resume := fs.Bool("resume", false, "continue from out_dir/last.safetensors (train.resume)")
	overwrite := fs.Bool("overwrite", false, "replace the run out_dir holds, removing its checkpoints and metrics (train.overwrite)")
	pretrained := fs.String("pretrained", "", "initialise from this checkpoint: safetensors or official .pt (model.pretrained)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("-config is required (see configs/)")
	}
	if *backend != "" {
		sets = append(sets, "train.backend="+*backend)
	}
	if *resume {
		sets = append(sets, "train.resume=true")
	}
	if *overwrite {
		sets = append(sets, "train.overwrite=true")
	}
	if *pretrained != "" {
		sets = append(sets, fmt.Sprintf("model.pretrained=%q", *pretrained))
	}
	cfg, be, closeBE, err := openRun(*path, sets)
	if err != nil {
		return err
	}
	defer closeBE()
	t, err := trainer.New(ctx, cfg, be, os.Stderr)
	if err != nil {
		return err
	}
	defer t.Close()
	res, err := t.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("done: %d steps in %.0f s, test top-1 %.2f%% (best %.2f%%), top-5 %.2f%%\n",
		res.Steps, res.Seconds, res.Top1, res.BestTop1, res.Top5)
	return nil
}

// openRun loads the configuration at path, applies the overrides sets
// (section.key=value, in order), validates it, prints the resolved
// configuration to standard error and opens its backend; closeBE releases
// the backend.
func openRun(path string, sets []string) (cfg trainer.Config, be kernels.Backend, closeBE func() error, err error) {
	if cfg, err = trainer.Load(path); err != nil {
		return cfg, nil, nil, err
	}
	for _, s := range sets {
		if err := cfg.Set(s); err != nil {
			return cfg, nil, nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "# resolved configuration\n%s\n", cfg.TOML())
	be, closeBE, err = trainer.OpenBackend(cfg.Train.Backend)
	return cfg, be, closeBE, err
}
