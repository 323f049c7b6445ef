package trainer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestPretrainedFromFiveClasses trains a few steps on Fashion-MNIST's first
// five classes (data.classes), then starts a ten-class run from that
// checkpoint: every backbone tensor is the checkpoint's, the head is the new
// model's own initialisation, and metrics.jsonl records the report.
func TestPretrainedFromFiveClasses(t *testing.T) {
	five := quickConfig(t, 2)
	five.Data.Classes = 5
	tr, err := New(context.Background(), five, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, want := tr.data.Train.Len(), 30000; n != want || tr.data.Info.NumClasses() != 5 || tr.data.Test.Len() != 200 {
		t.Fatalf("five classes: %d training images (want %d), %d classes, %d test images", n, want, tr.data.Info.NumClasses(), tr.data.Test.Len())
	}
	for i := range tr.data.Test.Len() {
		if l := tr.data.Test.Label(i); l >= 5 {
			t.Fatalf("test image %d has label %d", i, l)
		}
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	ckpt := readState(t, filepath.Join(five.Train.OutDir, "last.safetensors"))

	ten := quickConfig(t, 2)
	ten.Model.Pretrained = filepath.Join(five.Train.OutDir, "last.safetensors")
	ten.Model.HeadInitScale = 0.001
	tr, err = New(context.Background(), ten, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	fresh, err := models.New(cpu.New(), tr.Model().Config, ten.Train.Seed)
	if err != nil {
		t.Fatal(err)
	}
	freshSD, _ := fresh.StateDict(models.Timm)
	freshByName := map[string][]float32{}
	for _, x := range freshSD {
		freshByName[x.Name] = x.Data
	}
	sd, err := tr.Model().StateDict(models.Timm)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range sd {
		want := ckpt[x.Name]
		if strings.HasPrefix(x.Name, "head.fc.") {
			want = freshByName[x.Name]
		}
		if !slices.Equal(x.Data, want) {
			t.Errorf("%s is neither the checkpoint's nor the fresh head", x.Name)
		}
	}
	metrics, err := os.ReadFile(filepath.Join(ten.Train.OutDir, "metrics.jsonl"))
	if err != nil || !strings.Contains(string(metrics), `"kind":"pretrained"`) || !strings.Contains(string(metrics), `"head_dropped":true`) {
		t.Errorf("metrics.jsonl has no pretrained record: %v\n%s", err, metrics)
	}
}

// TestPretrainedErrors checks that a run whose pretrained file is missing
// or of another architecture fails in New with the file named, and that
// QAT (which starts from qat.from) refuses a pretrained file as well.
func TestPretrainedErrors(t *testing.T) {
	c := quickConfig(t, 1)
	c.Model.Pretrained = filepath.Join(t.TempDir(), "missing.pt")
	if _, err := New(context.Background(), c, cpu.New(), nil); err == nil || !strings.Contains(err.Error(), "missing.pt") {
		t.Errorf("missing file: err = %v", err)
	}
	c.Model.Pretrained = filepath.Join("..", "models", "testdata", "pretrained", "official_small.pt")
	if _, err := New(context.Background(), c, cpu.New(), nil); err == nil || !strings.Contains(err.Error(), "another architecture") {
		t.Errorf("other architecture: err = %v", err)
	}
	c.QAT.Enabled, c.QAT.From = true, "float.safetensors"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "model.pretrained and qat.from") {
		t.Errorf("pretrained with QAT: err = %v", err)
	}
}
