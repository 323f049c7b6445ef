package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nextconv/nextconv/trainer/study"
)

// studyCmd runs a study: `train study -config study.toml [-backend B]`
// trains and measures every candidate the file lists and writes
// results.csv, results.md and the Pareto plots into its [study] out_dir.
func studyCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("train study", `usage: train study -config FILE [-backend cpu|cuda|cudasim] [-remeasure]

trains every [[candidate]] of the study file with its one recipe, measures params, MACs,
training img/s, inference latency at batch 1 and 64, test top-1/top-5 and (qat = true) int8
top-1, and writes results.csv, results.md, top1_vs_macs.png and top1_vs_latency.png (and
steps.png, top-1 and MACs along the candidates' order, with [study] steps_plot = true) into
[study] out_dir; re-running skips finished candidates and resumes an interrupted one
(-remeasure: and measures the finished ones' latencies again)`)
	path := fs.String("config", "", "study TOML file (required; see configs/study_*.toml)")
	backend := fs.String("backend", "", "override the recipe's train.backend: cpu, cuda or cudasim")
	remeasure := fs.Bool("remeasure", false, "measure the inference latencies of finished candidates again (e.g. on an idle machine); trains nothing new")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("train study: -config is required (see configs/study_fashion_mnist.toml)")
	}
	s, err := study.Load(*path)
	if err != nil {
		return err
	}
	if *backend != "" {
		s.Recipe.Train.Backend = *backend
	}
	rs, err := study.Run(ctx, s, study.Options{Log: os.Stderr, Remeasure: *remeasure})
	if err != nil {
		return err
	}
	fmt.Printf("study done: %d candidates; results in %s\n", len(rs), s.Settings.OutDir)
	return nil
}
