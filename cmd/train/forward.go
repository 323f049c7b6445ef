package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// forward computes logits for a batch stored as PyTorch lays it out, for
// parity checks against PyTorch.
func forward(ctx context.Context, args []string) error {
	fs := newFlagSet("train forward", "usage: train forward -checkpoint CKPT -input X -output Y [-model NAME ...] [-features 0,1,2,3] [-ema] [-backend B]\n"+
		"-model efficientnet_b0, efficientnetv2_rw_t, mobilenetv4_conv_small, mobilenetv4_conv_medium, resnet50 or resnext50_32x4d (or any ConvNeXt variant) loads timm's state dict of that model")
	ckpt := fs.String("checkpoint", "", "model weights (nextconv, timm or official names) (required)")
	in := fs.String("input", "", "safetensors file with tensor x [N, C, H, W] float32 (required)")
	out := fs.String("output", "", "safetensors file to write tensor logits [N, classes] (or the -features) to (required)")
	fs.StringVar(out, "out", "", "the same as -output")
	feats := fs.String("features", "", "comma-separated feature indices (e.g. 0,1,2,3): write those features.I [N, C, H/s, W/s] (NCHW, as PyTorch lays them out; s the feature's reduction, FeatureInfo) instead of the logits, as timm's features_only: for spec-built models the stage indices (ResNet's out_indices are these plus 1), for timm's EfficientNet/MobileNet baselines timm's out_indices 0..4")
	mf := addModelFlags(fs)
	ema := fs.Bool("ema", false, "use a training checkpoint's EMA weights")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *in == "" || *out == "" {
		return errors.New("-checkpoint, -input and -output are required")
	}
	stages, err := parseStages(*feats)
	if err != nil {
		return err
	}
	tensors, _, err := models.ReadSafetensors(*in)
	if err != nil {
		return err
	}
	var x *models.Tensor
	for i := range tensors {
		if tensors[i].Name == "x" {
			x = &tensors[i]
		}
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	if err := ctx.Err(); err != nil {
		return err
	}
	var m interface {
		Forward(kernels.Tensor) (kernels.Tensor, error)
		Features(kernels.Tensor, []int) ([]kernels.Tensor, error)
	}
	var inChans int
	if arch, err := models.EfficientPreset(*mf.name, *mf.classes, 0); err == nil {
		// One of timm's efficient baselines: the file holds timm's state
		// dict (BatchNorm buffers included).
		if *ema {
			return errors.New("-ema applies to nextconv training checkpoints, not to timm's " + arch.Name)
		}
		en, err := models.NewEfficientNet(be, arch, 0)
		if err != nil {
			return err
		}
		weights, err := models.ReadTensors(*ckpt)
		if err != nil {
			return err
		}
		if err := en.LoadTensors(*ckpt, weights); err != nil {
			return err
		}
		en.SetTraining(false)
		m, inChans = en, arch.InChans
	} else {
		mc, err := models.ConfigFromCheckpoint(*ckpt)
		if errors.Is(err, models.ErrNoConfig) {
			mc, err = mf.config() // a timm or official file: the flags describe the model
		}
		if err != nil {
			return err
		}
		cm, err := models.New(be, mc, 0)
		if err != nil {
			return err
		}
		if err := trainer.LoadWeights(cm, *ckpt, *ema); err != nil {
			return err
		}
		cm.SetTraining(false)
		m, inChans = cm, mc.InChans
	}
	if x == nil || len(x.Shape) != 4 || x.Shape[1] != inChans {
		return fmt.Errorf("%s: need tensor x of shape [N %d H W] (NCHW float32)", *in, inChans)
	}
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	xt, err := be.Alloc(kernels.Shape{n, h, w, c})
	if err != nil {
		return err
	}
	if err := be.Upload(xt, models.NCHWToNHWC(x.Data, n, c, h, w)); err != nil {
		return err
	}
	var outs []kernels.Tensor
	if stages != nil {
		outs, err = m.Features(xt, stages)
	} else {
		var logits kernels.Tensor
		logits, err = m.Forward(xt)
		outs = []kernels.Tensor{logits}
	}
	if err != nil {
		return err
	}
	var write []models.Tensor
	for i, t := range outs {
		v := make([]float32, t.Len())
		if err := be.Download(v, t); err != nil {
			return err
		}
		if stages == nil {
			write = append(write, models.Tensor{Name: "logits", Shape: []int(t.Shape), Data: v})
			continue
		}
		n, h, w, c := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
		write = append(write, models.Tensor{Name: fmt.Sprintf("features.%d", stages[i]), Shape: []int{n, c, h, w}, Data: models.NHWCToNCHW(v, n, h, w, c)})
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: nothing written
	}
	if err := models.WriteSafetensors(*out, write, nil); err != nil {
		return err
	}
	for _, t := range write {
		fmt.Printf("wrote %s %v to %s\n", t.Name, kernels.Shape(t.Shape), *out)
	}
	return nil
}

// parseStages reads -features' comma-separated indices; "" is nil (write
// the logits). The model's Features checks the range and the order.
func parseStages(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-features %q: %q is not a feature index", s, f)
		}
		out = append(out, i)
	}
	return out, nil
}
