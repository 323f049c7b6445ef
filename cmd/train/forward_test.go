package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/models"
)

// TestForwardParity runs `train forward` on PyTorch's golden ConvNeXt
// V2-Atto (timm names, scripts/golden/models.py): the checkpoint and the
// NCHW batch go in as separate safetensors files, as a user would pass
// them, and the logits written must match PyTorch's to rtol 1e-4.
func TestForwardParity(t *testing.T) {
	tensors, _, err := models.ReadSafetensors(filepath.Join("..", "..", "models", "testdata", "golden", "convnextv2_atto.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var weights, input []models.Tensor
	var want models.Tensor
	for _, tn := range tensors {
		switch tn.Name {
		case "x":
			input = append(input, tn)
		case "logits":
			want = tn
		default:
			weights = append(weights, tn)
		}
	}
	dir := t.TempDir()
	ckpt, in, out := filepath.Join(dir, "atto.safetensors"), filepath.Join(dir, "x.safetensors"), filepath.Join(dir, "logits.safetensors")
	if err := models.WriteSafetensors(ckpt, weights, nil); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(in, input, nil); err != nil {
		t.Fatal(err)
	}
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", in, "-output", out, "-model", "atto", "-classes", "10"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := models.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "logits" || got[0].Shape[0] != 2 || got[0].Shape[1] != 10 {
		t.Fatalf("output %+v", got)
	}
	testutil.AllClose(t, "logits", got[0].Data, want.Data, 1e-4, 1e-5)
	// A checkpoint for another class count is refused by name and shape.
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", in, "-output", out, "-model", "atto", "-classes", "11"}); err == nil {
		t.Error("11-class model accepted a 10-class checkpoint")
	}
}
