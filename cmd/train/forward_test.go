package main

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
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

// TestForwardEfficient runs `train forward -model mobilenetv4_conv_small` on
// a timm-named safetensors file rebuilt from the golden formula
// (scripts/golden/efficient.py), BatchNorm buffers included, and matches the
// logits timm computed within 1e-4 relative.
func TestForwardEfficient(t *testing.T) {
	const name = "mobilenetv4_conv_small"
	ckpt, xf, out := forwardGolden(t, filepath.Join("efficient", name+".json"), name)
	// The same file is not a checkpoint of the medium model.
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", xf, "-output", out, "-model", "mobilenetv4_conv_medium"}); err == nil {
		t.Error("mobilenetv4_conv_medium accepted mobilenetv4_conv_small's weights")
	}
}

// TestForwardResNet runs `train forward -model resnet50` and `-model
// resnext50_32x4d` on timm-named safetensors files rebuilt from the golden
// formula (scripts/golden/resnet.py) and matches timm's logits within 1e-4
// relative; resnet50's file is not a resnext50_32x4d checkpoint.
func TestForwardResNet(t *testing.T) {
	ckpt, xf, out := forwardGolden(t, filepath.Join("resnet", "resnet50.json"), "resnet50")
	forwardGolden(t, filepath.Join("resnet", "resnext50_32x4d.json"), "resnext50_32x4d")
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", xf, "-output", out, "-model", "resnext50_32x4d"}); err == nil {
		t.Error("resnext50_32x4d accepted resnet50's weights")
	}
}

// forwardGolden writes the golden file's formula weights (under
// models/testdata/golden) as a timm-named safetensors file and its input,
// runs `train forward -model name` and matches timm's logits within 1e-4
// relative (1e-5 absolute). It returns the checkpoint, input and output
// paths.
func forwardGolden(t *testing.T, golden, name string) (ckpt, xf, out string) {
	t.Helper()
	g, err := testutil.LoadEfficientGolden(filepath.Join("..", "..", "models", "testdata", "golden", golden))
	if err != nil {
		t.Fatal(err)
	}
	weights := make([]models.Tensor, len(g.Tensors))
	for i, e := range g.Tensors {
		weights[i] = models.Tensor{Name: e.Name, Shape: e.Shape, Data: g.Values(e)}
	}
	in := g.Inputs[0]
	x := models.Tensor{Name: "x", Shape: in.Shape, Data: testutil.FormulaInput("input", in.Shape[0]*in.Shape[1]*in.Shape[2]*in.Shape[3])}
	dir := t.TempDir()
	ckpt, xf, out = filepath.Join(dir, "timm.safetensors"), filepath.Join(dir, "x.safetensors"), filepath.Join(dir, "logits.safetensors")
	if err := models.WriteSafetensors(ckpt, weights, nil); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(xf, []models.Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", xf, "-output", out, "-model", name}); err != nil {
		t.Fatal(err)
	}
	got, _, err := models.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "logits" || len(got[0].Data) != len(in.Logits) {
		t.Fatalf("output %+v", got)
	}
	testutil.AllClose(t, name+" logits", got[0].Data, in.Logits, 1e-4, 1e-5)
	return ckpt, xf, out
}

// TestForwardFeatures runs `train forward -model NAME -features 0,1,...
// -out F` on the formula weights of resnet50 (stages 0..3, timm's
// out_indices 1..4), efficientnet_b0 and mobilenetv4_conv_small (timm's
// out_indices 0..4) and matches the written NCHW features against timm's
// features_only=True outputs (models/testdata/golden/features, NHWC) within
// 1e-4 relative; an index list out of range or not increasing is refused.
func TestForwardFeatures(t *testing.T) {
	for _, tc := range []struct{ name, dir, indices, bad string }{
		{"resnet50", "resnet", "0,1,2,3", "4"},
		{"efficientnet_b0", "efficient", "0,1,2,3,4", "5"},
		{"mobilenetv4_conv_small", "efficient", "0,1,2,3,4", "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testForwardFeatures(t, tc.name, tc.dir, tc.indices, tc.bad)
		})
	}
}

// testForwardFeatures is TestForwardFeatures for model name, whose logits
// golden file (the formula's gain and timm's state dict) is in
// models/testdata/golden/dir.
func testForwardFeatures(t *testing.T, name, dir, indices, bad string) {
	g, err := testutil.LoadEfficientGolden(filepath.Join("..", "..", "models", "testdata", "golden", dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	golden, meta, err := models.ReadSafetensors(filepath.Join("..", "..", "models", "testdata", "golden", "features", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if meta["gain"] != strconv.FormatFloat(g.Gain, 'g', -1, 64) || meta["input"] != "[1, 3, 32, 48]" {
		t.Fatalf("features golden metadata %v, logits golden gain %v", meta, g.Gain)
	}
	weights := make([]models.Tensor, len(g.Tensors))
	for i, e := range g.Tensors {
		weights[i] = models.Tensor{Name: e.Name, Shape: e.Shape, Data: g.Values(e)}
	}
	tmp := t.TempDir()
	ckpt, xf, out := filepath.Join(tmp, "timm.safetensors"), filepath.Join(tmp, "x.safetensors"), filepath.Join(tmp, "features.safetensors")
	if err := models.WriteSafetensors(ckpt, weights, nil); err != nil {
		t.Fatal(err)
	}
	x := models.Tensor{Name: "x", Shape: []int{1, 3, 32, 48}, Data: testutil.FormulaInput("input", 3*32*48)}
	if err := models.WriteSafetensors(xf, []models.Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	args := []string{"-checkpoint", ckpt, "-input", xf, "-out", out, "-model", name, "-features"}
	if err := forward(context.Background(), append(args, indices)); err != nil {
		t.Fatal(err)
	}
	got, _, err := models.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(golden) {
		t.Fatalf("wrote %d tensors, want %d", len(got), len(golden))
	}
	for i, f := range got {
		w := golden[i]
		n, h, wd, c := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
		if f.Name != w.Name || !slices.Equal(f.Shape, []int{n, c, h, wd}) {
			t.Fatalf("tensor %d: %s %v, want %s [%d %d %d %d]", i, f.Name, f.Shape, w.Name, n, c, h, wd)
		}
		testutil.AllClose(t, f.Name, f.Data, models.NHWCToNCHW(w.Data, n, h, wd, c), 1e-4, 1e-5)
	}
	for _, b := range []string{bad, "2,1", "x"} {
		if err := forward(context.Background(), append(args, b)); err == nil {
			t.Errorf("-features %s accepted", b)
		}
	}
}
