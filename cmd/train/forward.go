package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// forward computes logits for a batch stored as PyTorch lays it out, for
// parity checks against PyTorch.
func forward(ctx context.Context, args []string) error {
	fs := newFlagSet("train forward", "usage: train forward -checkpoint CKPT -input X -output Y [-model NAME ...] [-ema] [-backend B]")
	ckpt := fs.String("checkpoint", "", "model weights (nextconv, timm or official names) (required)")
	in := fs.String("input", "", "safetensors file with tensor x [N, C, H, W] float32 (required)")
	out := fs.String("output", "", "safetensors file to write tensor logits [N, classes] to (required)")
	mf := addModelFlags(fs)
	ema := fs.Bool("ema", false, "use a training checkpoint's EMA weights")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *in == "" || *out == "" {
		return errors.New("-checkpoint, -input and -output are required")
	}
	mc, err := models.ConfigFromCheckpoint(*ckpt)
	if errors.Is(err, models.ErrNoConfig) {
		mc, err = mf.config() // a timm or official file: the flags describe the model
	}
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
	if x == nil || len(x.Shape) != 4 || x.Shape[1] != mc.InChans {
		return fmt.Errorf("%s: need tensor x of shape [N %d H W] (NCHW float32)", *in, mc.InChans)
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := models.New(be, mc, 0)
	if err != nil {
		return err
	}
	if err := trainer.LoadWeights(m, *ckpt, *ema); err != nil {
		return err
	}
	m.SetTraining(false)
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	xt, err := be.Alloc(kernels.Shape{n, h, w, c})
	if err != nil {
		return err
	}
	if err := be.Upload(xt, models.NCHWToNHWC(x.Data, n, c, h, w)); err != nil {
		return err
	}
	logits, err := m.Forward(xt)
	if err != nil {
		return err
	}
	v := make([]float32, logits.Len())
	if err := be.Download(v, logits); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: nothing written
	}
	if err := models.WriteSafetensors(*out, []models.Tensor{{Name: "logits", Shape: []int(logits.Shape), Data: v}}, nil); err != nil {
		return err
	}
	fmt.Printf("wrote logits %v to %s\n", logits.Shape, *out)
	return nil
}
