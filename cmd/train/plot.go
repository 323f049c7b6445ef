package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/trainer/plot"
)

// plotRun draws a run's loss and accuracy curves from its metrics.jsonl as
// a PNG: `train plot RUN [-o FILE.png]`, where RUN is a run's out_dir (or
// its metrics.jsonl); the picture goes to RUN/curves.png by default.
func plotRun(ctx context.Context, args []string) error {
	fs := newFlagSet("train plot", "usage: train plot RUN_DIR [-o FILE.png]\n\ndraws the train loss per logged step and the test top-1/top-5 per evaluation of a run from RUN_DIR/metrics.jsonl")
	out := fs.String("o", "", "PNG file to write (default: RUN_DIR/curves.png)")
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:] // the run first, flags after it
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if dir == "" && len(rest) > 0 {
		dir, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return fmt.Errorf("train plot: unexpected argument %q: one run directory only (see -h)", rest[0])
	}
	if dir == "" {
		return errors.New("train plot: a run directory is required (train plot runs/NAME)")
	}
	metrics := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		metrics = filepath.Join(dir, "metrics.jsonl")
	} else {
		dir = filepath.Dir(dir)
	}
	m, err := plot.ReadMetricsFile(metrics)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(dir, "curves.png")
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: nothing written
	}
	if err := fsutil.WriteAtomic(*out, func(w io.Writer) error {
		return plot.WriteCurvesPNG(w, m, runName(dir))
	}); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d train and %d eval records of %s\n", *out, len(m.Train), len(m.Eval), metrics)
	return nil
}

// runName is the title of a run's picture: its directory's name.
func runName(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Base(dir)
}
