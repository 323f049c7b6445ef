package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/nextconv/nextconv/trainer"
)

// export writes the int8 form of a QAT checkpoint.
func export(args []string) error {
	fs := flag.NewFlagSet("train export", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "QAT checkpoint (from a run with [qat] enabled) (required)")
	out := fs.String("output", "", "int8 safetensors file to write (required)")
	if err := fs.Parse(args); err != nil {
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
	if qs == nil {
		return fmt.Errorf("%s is not a QAT checkpoint (its run has no [qat] enabled)", *ckpt)
	}
	if err := trainer.ExportInt8(*out, m, qs, cfg); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d int8 layers (weights per output channel, activations per tensor)\n", *out, len(qs))
	return nil
}
