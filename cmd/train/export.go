package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/export/onnx"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
	"github.com/nextconv/nextconv/trainer"
)

// export writes a checkpoint as an int8 safetensors file (the default, QAT
// checkpoints only) or as an ONNX model (-format onnx): float for a float
// checkpoint, QDQ for a QAT checkpoint or an int8 export.
func export(ctx context.Context, args []string) error {
	fs := newFlagSet("train export", "usage: train export -checkpoint QAT -output INT8\n       train export -format onnx -checkpoint CKPT -output M.onnx [-int8] [-size PX] [-uint8-activations] [-model NAME ...]")
	ckpt := fs.String("checkpoint", "", "checkpoint: float, QAT, int8 export, or timm/official weights with -model (required)")
	out := fs.String("output", "", "file to write (required)")
	format := fs.String("format", "int8", "int8 (safetensors with int8 weights and scales; QAT checkpoints) or onnx")
	int8 := fs.Bool("int8", false, "with -format onnx: require a QAT checkpoint or int8 export and write QDQ (an error for a float checkpoint)")
	size := fs.Int("size", 0, "with -format onnx: input side in pixels (default: the checkpoint's evaluation size)")
	u8 := fs.Bool("uint8-activations", false, "with -format onnx: store int8 activations as uint8 with zero point +128 (same values; ONNX Runtime's fast path on x86 without VNNI; TensorRT wants the int8 default)")
	mf := addModelFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return errors.New("-checkpoint and -output are required")
	}
	if *format != "int8" && *format != "onnx" {
		return fmt.Errorf("-format %q: want int8 or onnx", *format)
	}
	be, closeBE, err := trainer.OpenBackend("cpu")
	if err != nil {
		return err
	}
	defer closeBE()
	if *format == "onnx" {
		return exportONNX(ctx, be, *ckpt, *out, *int8, *size, onnx.Options{UInt8Activations: *u8}, mf)
	}
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

// exportONNX writes checkpoint ckpt as ONNX with the class names and
// preprocessing of the run that trained it; weights without a run (timm or
// official files, whose model the -model flags describe, or a bare
// models.Model.Save file) get no class names and [defaultMeta].
func exportONNX(ctx context.Context, be kernels.Backend, ckpt, out string, int8 bool, size int, opt onnx.Options, mf modelFlags) error {
	var m *models.Model
	kind := "float"
	_, err := models.ConfigFromCheckpoint(ckpt)
	switch {
	case errors.Is(err, models.ErrNoConfig):
		if int8 {
			return fmt.Errorf("-int8: %s holds float weights (timm or official naming), not a QAT checkpoint or int8 export", ckpt)
		}
		mc, err := mf.config()
		if err != nil {
			return err
		}
		if m, err = models.New(be, mc, 0); err != nil {
			return err
		}
		if err := trainer.LoadWeights(m, ckpt, false); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		var qs []*qat.Quantized
		if m, qs, _, err = trainer.OpenModel(be, ckpt, false); err != nil {
			return err
		}
		if qs == nil && int8 {
			return fmt.Errorf("-int8: %s is a float checkpoint (its run has no [qat] enabled); fine-tune it with [qat] first, or drop -int8 for a float ONNX model", ckpt)
		}
		if qs != nil {
			kind = fmt.Sprintf("int8 QDQ (%d quantized layers)", len(qs))
		}
	}
	meta, err := checkpointMeta(ckpt, m.Config)
	if err != nil {
		return err
	}
	if size > 0 {
		meta.InputSize = size
	}
	m.SetTraining(false)
	if err := ctx.Err(); err != nil {
		return err // interrupted: nothing written
	}
	if err := onnx.Write(out, m, meta, opt); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s ONNX (opset %d), input [batch %d %d %d] NCHW float32, output logits [batch %d]\n",
		out, kind, onnx.Opset, m.Config.InChans, meta.InputSize, meta.InputSize, m.Config.NumClasses)
	return nil
}

// checkpointMeta returns the class names and preprocessing of the run that
// wrote checkpoint ckpt for model mc, or defaultMeta(mc) when ckpt carries
// no run.
func checkpointMeta(ckpt string, mc models.Config) (onnx.Metadata, error) {
	if ok, err := trainer.HasRunConfig(ckpt); err != nil || !ok {
		return defaultMeta(mc), err
	}
	cfg, err := trainer.RunConfigFromCheckpoint(ckpt)
	if err != nil {
		return onnx.Metadata{}, err
	}
	info, err := trainer.DataInfo(cfg.Data)
	if err != nil {
		return onnx.Metadata{}, err
	}
	if len(info.Mean) != mc.InChans || len(info.Classes) != mc.NumClasses {
		return onnx.Metadata{}, fmt.Errorf("%s: the model has %d input channels and %d classes, its run's dataset %s %d and %d",
			ckpt, mc.InChans, mc.NumClasses, cfg.Data.Dataset, len(info.Mean), len(info.Classes))
	}
	meta := onnx.Metadata{Classes: info.Classes, Mean: info.Mean, Std: info.Std, InputSize: cfg.Data.InputSize}
	if meta.InputSize == 0 {
		meta.InputSize = info.H
	}
	return meta, nil
}

// defaultMeta describes inputs for weights without a run: ImageNet's
// statistics for RGB, 0.5/0.5 for other channel counts (ImageFolder's
// defaults), the model's nominal input size and no class names.
func defaultMeta(mc models.Config) onnx.Metadata {
	meta := onnx.Metadata{InputSize: mc.InputSize, Mean: datasets.ImageNetMean, Std: datasets.ImageNetStd}
	if mc.InChans != 3 {
		meta.Mean, meta.Std = make([]float64, mc.InChans), make([]float64, mc.InChans)
		for i := range meta.Mean {
			meta.Mean[i], meta.Std[i] = 0.5, 0.5
		}
	}
	return meta
}
