// Command train trains, evaluates, benchmarks and profiles ConvNeXt V2 (and
// V1) models with nextconv.
//
//	train -config configs/fashion_mnist.toml [-set section.key=value ...]
//	train eval -checkpoint runs/x/best.safetensors [-config FILE] [-ema]
//	train bench -model atto -size 28 -stem 2 -in-chans 1 -classes 10 -batch 128
//	train forward -checkpoint CKPT -input x.safetensors -output logits.safetensors
//	train profile -model atto -size 224 [-json FILE]
//	train export -checkpoint runs/x_qat/best.safetensors -output model_int8.safetensors
//
// Every subcommand takes -backend cpu|cuda|cudasim. Run a subcommand with
// -h for its flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nextconv/nextconv/trainer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	cmd := "fit"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "fit":
		err = fit(ctx, args)
	case "eval":
		err = eval(ctx, args)
	case "bench":
		err = bench(args)
	case "forward":
		err = forward(args)
	case "profile":
		err = profile(args)
	case "export":
		err = export(args)
	case "help":
		fmt.Fprintln(os.Stderr, usage)
		return
	default:
		err = fmt.Errorf("unknown subcommand %q\n%s", cmd, usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		if errors.Is(err, trainer.ErrInterrupted) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  train [fit] -config FILE [-set section.key=value ...]   train a model
  train eval -checkpoint FILE [-config FILE] [-ema]        evaluate a checkpoint on the test set
  train bench -model NAME -size PX -batch N                training images/s on a backend
  train forward -checkpoint FILE -input X -output Y        logits for a batch (PyTorch parity checks)
  train profile -model NAME -size PX [-json FILE]          per-layer params, MACs, memory and time
  train export -checkpoint QAT -output INT8                int8 weights and scales of a QAT checkpoint`

// multiFlag collects repeated -set flags.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
