package main

import (
	"context"
	"io"
	"os"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
)

// profile prints the per-layer table and optionally writes it as JSON.
func profile(ctx context.Context, args []string) error {
	fs := newFlagSet("train profile", "usage: train profile {-model NAME | -config FILE} -size PX [-batch N] [-iters N] [-json FILE] [-backend B] [-precision P]")
	mf := addModelFlags(fs)
	size := fs.Int("size", 224, "input side in pixels")
	batch := fs.Int("batch", 1, "images per pass")
	iters := fs.Int("iters", 3, "timed forward+backward passes averaged")
	df := addDeviceFlags(fs)
	jsonPath := fs.String("json", "", "also write the table as JSON to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mc, err := mf.config()
	if err != nil {
		return err
	}
	be, closeBE, err := df.open(mc)
	if err != nil {
		return err
	}
	defer closeBE()
	rows, err := models.Profile(ctx, be, mc, models.ProfileOptions{Batch: *batch, Size: *size, Iters: *iters})
	if err != nil {
		return err
	}
	if err := models.WriteProfileTable(os.Stdout, rows); err != nil {
		return err
	}
	if *jsonPath != "" {
		return fsutil.WriteAtomic(*jsonPath, func(w io.Writer) error { return models.WriteProfileJSON(w, rows) })
	}
	return nil
}
