package trainer

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// pretrainConfig is quickConfig for FCMAE: 32-pixel inputs (two 16-pixel
// patches per side for the 2×2 stem), a 32-wide decoder, no mixup or EMA.
func pretrainConfig(t *testing.T, steps int) Config {
	c := quickConfig(t, steps)
	c.Data.InputSize, c.Data.RandAugment, c.Data.RandomErasing = 32, "", 0
	c.Mixup, c.EMA.Decay, c.Model.DropPath = MixupConfig{Prob: 1, SwitchProb: 0.5}, 0, 0
	c.FCMAE.DecoderDim = 32
	return c
}

// TestPretrainFashionMNIST runs six FCMAE steps on Fashion-MNIST and checks
// the outputs: pre-training metrics with a finite loss near 1 at the start
// (predictions near 0 against per-patch normalised targets of mean square
// (PL − 1)/PL), and a checkpoint whose encoder a classification model loads
// once the decoder keys are dropped.
func TestPretrainFashionMNIST(t *testing.T) {
	c := pretrainConfig(t, 6)
	p, err := NewPretrainer(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 6 || !finite(res.Loss) {
		t.Fatalf("result %+v, want 6 steps and a finite loss", res)
	}
	f, err := os.Open(filepath.Join(c.Train.OutDir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var losses []float64
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct {
			Kind string
			Loss float64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Kind == "pretrain" {
			losses = append(losses, rec.Loss)
		}
	}
	if len(losses) != 3 || !(losses[0] > 0.5 && losses[0] < 1.5) {
		t.Errorf("pretrain losses %v, want 3 records starting near 1", losses)
	}
	tensors, _, err := models.ReadSafetensors(filepath.Join(c.Train.OutDir, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.ModelConfig(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(cpu.New(), mc, 0)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := m.StateDict(models.Timm)
	if err != nil {
		t.Fatal(err)
	}
	var enc []models.Tensor
	for _, tn := range tensors {
		if !models.IsDecoderKey(tn.Name) {
			enc = append(enc, tn)
		}
	}
	for _, tn := range sd {
		if strings.HasPrefix(tn.Name, "head.") {
			enc = append(enc, tn)
		}
	}
	if err := m.LoadTensors("last.safetensors", enc); err != nil {
		t.Fatal(err)
	}
}

// TestPretrainBadInput checks the errors of images that are not whole
// patches, of train.resume and of an invalid [fcmae] section.
func TestPretrainBadInput(t *testing.T) {
	c := pretrainConfig(t, 2)
	c.Data.InputSize = 0 // 28 px is not a multiple of the 16-pixel patch
	p, err := NewPretrainer(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(context.Background())
	p.Close()
	if err == nil || !strings.Contains(err.Error(), "data.input_size") {
		t.Errorf("28-pixel images: got %v, want an error naming data.input_size", err)
	}
	c = pretrainConfig(t, 2)
	c.Train.Resume = true
	if _, err := NewPretrainer(context.Background(), c, cpu.New(), nil); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Errorf("resume: got %v", err)
	}
	c = pretrainConfig(t, 2)
	c.FCMAE.MaskRatio = 1
	if _, err := NewPretrainer(context.Background(), c, cpu.New(), nil); err == nil || !strings.Contains(err.Error(), "mask_ratio") {
		t.Errorf("mask_ratio 1: got %v", err)
	}
}
