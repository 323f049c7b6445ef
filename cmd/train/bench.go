package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// modelFlags are the flags that pick a model: a variant or preset by name,
// or the [model] section of a training configuration.
type modelFlags struct {
	name, file           *string
	stem, chans, classes *int
}

func addModelFlags(fs *flag.FlagSet) modelFlags {
	return modelFlags{
		name:    fs.String("model", "atto", "variant: "+fmt.Sprint(models.Variants())),
		file:    fs.String("config", "", "take the model from this training configuration's [model] section (stages included) instead of -model and -stem"),
		stem:    fs.Int("stem", 4, "stem patch size (kernel = stride)"),
		chans:   fs.Int("in-chans", 3, "input channels"),
		classes: fs.Int("classes", 1000, "classes"),
	}
}

// config returns the chosen model with -in-chans and -classes (which a
// configuration's in_chans and num_classes override, as its dataset's
// counts would).
func (f modelFlags) config() (models.Config, error) {
	if *f.file != "" {
		c, err := trainer.Load(*f.file)
		if err != nil {
			return models.Config{}, err
		}
		return c.ModelConfig(*f.chans, *f.classes)
	}
	mc, err := models.Variant(*f.name)
	if err != nil {
		return mc, err
	}
	mc.StemPatch, mc.InChans, mc.NumClasses = *f.stem, *f.chans, *f.classes
	return mc, mc.Validate()
}

// deviceFlags are the flags that pick the backend and its precision.
type deviceFlags struct{ backend, precision *string }

func addDeviceFlags(fs *flag.FlagSet) deviceFlags {
	return deviceFlags{
		backend:   fs.String("backend", "cpu", "cpu, cuda or cudasim"),
		precision: fs.String("precision", "", "bf16, tf32 or fp32 (docs/BF16.md; default bf16 on CUDA, fp32 on the CPU)"),
	}
}

// open opens the backend in the precision chosen for model mc
// (trainer.ModelPrecision: the flag, else the backend's default for mc).
// The error names the flag and the backend when the precision is unknown
// or the device cannot run it.
func (f deviceFlags) open(mc models.Config) (kernels.Backend, func() error, error) {
	setting, err := trainer.ModelPrecision(*f.backend, *f.precision, mc)
	if err != nil {
		return nil, nil, fmt.Errorf("-precision: %w", err)
	}
	be, closeBE, err := trainer.OpenBackend(*f.backend)
	if err != nil {
		return nil, nil, err
	}
	if _, err := trainer.SetPrecision(be, *f.backend, setting); err != nil {
		closeBE()
		return nil, nil, fmt.Errorf("-precision %q on backend %s: %w", setting, *f.backend, err)
	}
	return be, closeBE, nil
}

// bench measures training throughput.
func bench(ctx context.Context, args []string) error {
	fs := newFlagSet("train bench", "usage: train bench {-model NAME | -config FILE} -size PX -batch N [-steps N] [-backend B] [-precision P] [-json]")
	mf := addModelFlags(fs)
	size := fs.Int("size", 224, "input side in pixels")
	batch := fs.Int("batch", 32, "images per step")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 2, "untimed steps first")
	df := addDeviceFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
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
	r, err := trainer.Bench(ctx, be, mc, *batch, *size, *warmup, *steps)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("%s on %s (%s): batch %d at %d px: %.1f ms/step (forward %.1f, backward+optimizer %.1f), %.1f img/s\n",
		r.Model, r.Backend, r.Precision, r.Batch, r.Size, r.StepMs, r.ForwardMs, r.BackwardMs, r.ImgPerSec)
	return nil
}
