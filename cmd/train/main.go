// Command train trains, evaluates, benchmarks and profiles ConvNeXt V2 (and
// V1) models with nextconv.
//
//	train -config configs/fashion_mnist.toml [-set section.key=value ...]
//	train pretrain -config configs/fashion_mnist_fcmae.toml
//	train eval -checkpoint runs/x/best.safetensors [-config FILE] [-ema]
//	train bench -model atto -size 28 -stem 2 -in-chans 1 -classes 10 -batch 128
//	train forward -checkpoint CKPT -input x.safetensors -output logits.safetensors
//	train profile -model atto -size 224 [-json FILE]
//	train export -checkpoint runs/x_qat/best.safetensors -output model_int8.safetensors
//	train plot runs/x [-o curves.png]
//	train prune -checkpoint runs/x/best.safetensors -ratio 0.5 -out runs/x_pruned
//	train study -config configs/study_fashion_mnist.toml
//
// Every subcommand but plot takes -backend cpu|cuda|cudasim (export: cpu
// only) and -max-params/-max-memory, the budget a model is checked against before
// anything is allocated. Run a subcommand with -h for its flags. SIGINT or
// SIGTERM stops any subcommand cleanly (exit status 130).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx and every subcommand stops cleanly; a
	// second one gets the default action and ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:]))
}

// run executes one command line and returns the process's exit status: 0
// on success and for -h, 130 when ctx was cancelled (SIGINT), 1 otherwise.
func run(ctx context.Context, args []string) int {
	cmd := "fit"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "fit":
		err = fit(ctx, args)
	case "pretrain":
		err = pretrain(ctx, args)
	case "eval":
		err = eval(ctx, args)
	case "bench":
		err = bench(ctx, args)
	case "forward":
		err = forward(ctx, args)
	case "profile":
		err = profile(ctx, args)
	case "export":
		err = export(ctx, args)
	case "predict":
		err = predict(ctx, args)
	case "plot":
		err = plotRun(ctx, args)
	case "prune":
		err = pruneCmd(ctx, args)
	case "study":
		err = studyCmd(ctx, args)
	case "help":
		fmt.Println(usage)
		return 0
	default:
		err = fmt.Errorf("unknown subcommand %q\n%s", cmd, usage)
	}
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, trainer.ErrInterrupted) || ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "train: interrupted:", err)
		return 130
	}
	fmt.Fprintln(os.Stderr, "train:", err)
	return 1
}

// newFlagSet returns the flag set of one subcommand; -h prints its usage
// text and the flags.
func newFlagSet(name, text string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", text)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags adds the -max-params and -max-memory flags every subcommand
// shares, parses args into fs, rejects positional arguments (no subcommand
// takes any) and sets the process's model limits (models.SetLimits).
func parseFlags(fs *flag.FlagSet, args []string) error {
	def := models.DefaultLimits()
	maxParams := fs.Float64("max-params", float64(def.MaxParams), "refuse models with more parameters than this (checked before allocating)")
	maxGiB := fs.Float64("max-memory", float64(def.MaxMemory)/(1<<30), "refuse models and passes needing more GiB than this for weights, gradients and activations (checked before allocating)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q: every input is given by a flag (see -h)", fs.Name(), fs.Arg(0))
	}
	if !(*maxParams >= 1 && *maxParams < 1<<62) || !(*maxGiB > 0 && *maxGiB < 1<<32) {
		return fmt.Errorf("%s: -max-params %v and -max-memory %v must be positive", fs.Name(), *maxParams, *maxGiB)
	}
	models.SetLimits(models.Limits{MaxParams: int64(*maxParams), MaxMemory: int64(*maxGiB * (1 << 30))})
	return nil
}

const usage = `usage:
  train [fit] -config FILE [-set section.key=value ...]   train a model (-resume, -overwrite, -pretrained CKPT)
  train pretrain -config FILE [-set ...]                   FCMAE pre-training of the encoder ([fcmae])
  train eval -checkpoint FILE [-config FILE] [-ema]        evaluate a checkpoint on the test set
  train bench -model NAME -size PX -batch N                training images/s on a backend (-config FILE: its [model])
  train forward -checkpoint FILE -input X -output Y        logits for a batch (PyTorch parity checks)
  train profile -model NAME -size PX [-json FILE]          per-layer params, MACs, memory and time (-config FILE: its [model])
  train export -checkpoint QAT -output INT8                int8 weights and scales of a QAT checkpoint
  train export -format onnx -checkpoint C -output M.onnx   ONNX model (float, or QDQ int8 from QAT)
  train predict -checkpoint C [-json] IMAGE|DIR ...        top-5 classes of images
  train plot RUN_DIR [-o FILE.png]                         loss and accuracy curves of a run (metrics.jsonl)
  train prune -checkpoint C -ratio R -out DIR              remove MLP hidden channels: a smaller model to fine-tune
  train study -config STUDY.toml                           train and compare candidate models: results table, Pareto plots

Every subcommand but plot takes -max-params N and -max-memory GiB (the budget a model is
checked against before anything is allocated); -h lists a subcommand's flags.`

// multiFlag collects repeated -set flags.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
