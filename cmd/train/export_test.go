package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/export/onnx/onnxpb"
	"github.com/nextconv/nextconv/internal/ort"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// TestONNXQDQFashionMNIST trains the quick-start model briefly, fine-tunes
// it with QAT (configs/fashion_mnist_qat.toml, shortened), exports the QAT
// checkpoint as QDQ ONNX with `train export -format onnx`, and requires
// ONNX Runtime's top-1 on the 10,000 Fashion-MNIST test images to be within
// 0.1 point of `train eval`'s on the same checkpoint, and its optimized
// graph to contain integer ops. The int8 safetensors export gives the same
// ONNX file, and -int8 on the float checkpoint is refused.
func TestONNXQDQFashionMNIST(t *testing.T) {
	if os.Getenv("NEXTCONV_E2E") != "1" {
		t.Skip("set NEXTCONV_E2E=1 to run the Fashion-MNIST QAT → ONNX Runtime check (minutes)")
	}
	r, err := ort.Find()
	if errors.Is(err, ort.ErrMissing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	floatDir, qatDir := filepath.Join(dir, "float"), filepath.Join(dir, "qat")
	if err := fit(ctx, []string{"-config", filepath.Join("..", "..", "configs", "fashion_mnist.toml"),
		"-set", "train.max_steps=120", "-set", "train.out_dir=" + floatDir, "-set", "train.log_every=1000",
		"-set", "data.eval_images=500"}); err != nil {
		t.Fatal(err)
	}
	floatCkpt := filepath.Join(floatDir, "last.safetensors")
	if err := fit(ctx, []string{"-config", filepath.Join("..", "..", "configs", "fashion_mnist_qat.toml"),
		"-set", "qat.from=" + floatCkpt, "-set", "train.max_steps=40", "-set", "qat.calibration_batches=5",
		"-set", "qat.freeze_observers_after=20", "-set", "train.out_dir=" + qatDir, "-set", "train.log_every=1000",
		"-set", "data.eval_images=500"}); err != nil {
		t.Fatal(err)
	}
	qatCkpt := filepath.Join(qatDir, "last.safetensors")
	model := filepath.Join(dir, "int8.onnx")
	if err := export(context.Background(), []string{"-format", "onnx", "-int8", "-checkpoint", qatCkpt, "-output", model}); err != nil {
		t.Fatal(err)
	}

	// `train eval`'s number for the QAT checkpoint, on the whole test set
	// (the runs evaluated on 500 images to save time).
	m, qs, cfg, err := trainer.OpenModel(cpu.New(), qatCkpt, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.EvalImages = 0
	data, err := trainer.LoadData(ctx, cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := trainer.Evaluate(ctx, m, data.Test, data.EvalPipe, cfg.Train.EvalBatchSize, cfg.Data.Workers)
	if err != nil {
		t.Fatal(err)
	}

	// ONNX Runtime on the same preprocessed test images.
	x, labels, shape := testSet(t, data)
	opt := filepath.Join(dir, "int8.optimized.onnx")
	logits, _, err := r.Run(dir, model, x, shape, ort.Options{Batch: 500, Optimized: opt})
	if err != nil {
		t.Fatal(err)
	}
	k := m.Config.NumClasses
	correct := 0
	for i, y := range labels {
		if argmax(logits[i*k:(i+1)*k]) == y {
			correct++
		}
	}
	got := 100 * float64(correct) / float64(len(labels))
	t.Logf("%d quantized layers: train eval top-1 %.2f%%, ONNX Runtime (QDQ) top-1 %.2f%% on %d test images", len(qs), want.Top1, got, len(labels))
	if math.Abs(got-want.Top1) > 0.1 {
		t.Errorf("ONNX Runtime top-1 %.2f%% vs train eval %.2f%%: more than 0.1 point apart", got, want.Top1)
	}
	ops, integer, err := ort.OpCounts(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ONNX Runtime's optimized graph: %v", ops)
	if integer == 0 {
		t.Errorf("optimized graph has no integer ops: %v", ops)
	}

	// The int8 safetensors export of the same checkpoint exports to the
	// same ONNX bytes: its integers and scales are the QAT model's.
	int8File, model2 := filepath.Join(dir, "int8.safetensors"), filepath.Join(dir, "from_int8.onnx")
	if err := export(context.Background(), []string{"-checkpoint", qatCkpt, "-output", int8File}); err != nil {
		t.Fatal(err)
	}
	if err := export(context.Background(), []string{"-format", "onnx", "-checkpoint", int8File, "-output", model2}); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(model)
	b2, _ := os.ReadFile(model2)
	if !bytes.Equal(b1, b2) {
		t.Errorf("ONNX from the int8 export (%d bytes) differs from ONNX from the QAT checkpoint (%d bytes)", len(b2), len(b1))
	}

	// A float checkpoint is not int8.
	err = export(context.Background(), []string{"-format", "onnx", "-int8", "-checkpoint", floatCkpt, "-output", filepath.Join(dir, "bad.onnx")})
	if err == nil || !strings.Contains(err.Error(), "float checkpoint") {
		t.Errorf("-int8 on a float checkpoint: %v, want an error saying it is float", err)
	}
}

// testSet returns the evaluation images of data's test split as one NCHW
// batch, with their labels and shape.
func testSet(t *testing.T, data *trainer.Data) ([]float32, []int, []int) {
	t.Helper()
	loader, err := datasets.NewLoader(context.Background(), datasets.LoaderConfig{Dataset: data.Test, Pipeline: data.EvalPipe, BatchSize: 1000, Workers: 2, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	var x []float32
	var labels []int
	var n, c, h, w int
	for {
		b, err := loader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c, h, w = b.C, b.H, b.W
		for i := range b.N {
			for ch := range c {
				for p := range h * w {
					x = append(x, b.Images[(i*h*w+p)*c+ch])
				}
			}
		}
		labels = append(labels, b.Labels...)
		n += b.N
	}
	return x, labels, []int{n, c, h, w}
}

func argmax(v []float32) int {
	b := 0
	for i := range v {
		if v[i] > v[b] {
			b = i
		}
	}
	return b
}

// TestExportONNXCommand exports a model file (no training run stored) with
// `train export -format onnx` and requires ONNX Runtime's logits to equal
// `train forward`'s on the same batch to 1e-4 relative, the metadata to
// carry the preprocessing, and bad requests to be errors.
func TestExportONNXCommand(t *testing.T) {
	mc, err := models.Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	mc.StemPatch, mc.InChans, mc.NumClasses = 2, 1, 10
	m, err := models.New(cpu.New(), mc, 4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpt, model := filepath.Join(dir, "atto.safetensors"), filepath.Join(dir, "atto.onnx")
	if err := m.Save(ckpt, models.Timm, nil); err != nil {
		t.Fatal(err)
	}
	if err := export(context.Background(), []string{"-format", "onnx", "-size", "28", "-checkpoint", ckpt, "-output", model}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, p := range mp.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	if props["mean"] != "[0.5]" || props["std"] != "[0.5]" || props["input_size"] != "28" || props["layout"] != "NCHW" {
		t.Errorf("metadata %v", props)
	}
	in := mp.GetGraph().GetInput()[0]
	dims := in.GetType().GetTensorType().GetShape().GetDim()
	if in.GetName() != "input" || len(dims) != 4 || dims[0].GetDimParam() != "batch" || dims[1].GetDimValue() != 1 || dims[3].GetDimValue() != 28 {
		t.Errorf("input %v", in)
	}
	if out := mp.GetGraph().GetOutput()[0]; out.GetName() != "logits" {
		t.Errorf("output %v", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-format", "onnx", "-int8", "-checkpoint", ckpt, "-output", model}, "float checkpoint"},
		{[]string{"-format", "tflite", "-checkpoint", ckpt, "-output", model}, "want int8 or onnx"},
		{[]string{"-format", "onnx", "-size", "8", "-checkpoint", ckpt, "-output", model}, "below the 16 pixels"},
	} {
		if err := export(context.Background(), tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("export %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}

	r, err := ort.Find()
	if errors.Is(err, ort.ErrMissing) {
		t.Skipf("skipping the ONNX Runtime comparison: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	xf, yf := filepath.Join(dir, "x.safetensors"), filepath.Join(dir, "y.safetensors")
	if err := models.WriteSafetensors(xf, []models.Tensor{{Name: "x", Shape: []int{n, 1, 28, 28}, Data: x}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := forward(context.Background(), []string{"-checkpoint", ckpt, "-input", xf, "-output", yf}); err != nil {
		t.Fatal(err)
	}
	ys, _, err := models.ReadSafetensors(yf)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := r.Run(dir, model, x, []int{n, 1, 28, 28}, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "ONNX Runtime vs train forward", got, ys[0].Data, 1e-4, 1e-6)
}
