package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/trainer"
)

// export writes the int8 form of a QAT checkpoint.
func export(ctx context.Context, args []string) error {
	fs := newFlagSet("train export", "usage: train export -checkpoint QAT -output INT8")
	ckpt := fs.String("checkpoint", "", "QAT checkpoint (from a run with [qat] enabled) (required)")
	out := fs.String("output", "", "int8 safetensors file to write (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return errors.New("-checkpoint and -output are required")
	}
	be, closeBE, err := trainer.OpenBackend("cpu")
	if err != nil {
		return err
	}
	defer closeBE()
	m, qs, cfg, err := trainer.OpenModel(be, *ckpt, false)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: nothing written
	}
	if qs == nil {
		return fmt.Errorf("%s is not a QAT checkpoint (its run has no [qat] enabled)", *ckpt)
	}
	if err := trainer.ExportInt8(*out, m, qs, cfg); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d int8 layers (weights per output channel, activations per tensor)\n", *out, len(qs))
	return nil
}
