package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maruel/safetensors"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// qatRun trains a float model for 6 steps, then fine-tunes it with QAT for
// 4 steps (2 calibration batches, observers frozen after 2 steps) and
// returns the QAT configuration and its output directory.
func qatRun(t *testing.T) Config {
	t.Helper()
	float := quickConfig(t, 6)
	if err := run(t, float, 0); err != nil {
		t.Fatal(err)
	}
	q := quickConfig(t, 4)
	q.QAT.Enabled, q.QAT.From, q.QAT.CalibrationBatches, q.QAT.FreezeAfter = true, filepath.Join(float.Train.OutDir, "last.safetensors"), 2, 2
	q.Optim.LR = 1e-4
	if err := run(t, q, 0); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQATExportReproducesAccuracy fine-tunes with QAT, exports int8 weights
// and scales, reloads the export and requires its test accuracy and loss to
// equal the QAT model's exactly and every test logit to match bit for bit.
func TestQATExportReproducesAccuracy(t *testing.T) {
	q := qatRun(t)
	js, err := os.ReadFile(filepath.Join(q.Train.OutDir, "qat_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res QATResults
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatal(err)
	}
	if res.Layers == 0 || res.FloatTop1 <= 0 || res.PTQTop1 <= 0 || res.QATTop1 <= 0 {
		t.Fatalf("qat_results.json: %+v", res)
	}
	be := cpu.New()
	m, qs, cfg, err := OpenModel(be, filepath.Join(q.Train.OutDir, "last.safetensors"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != res.Layers || !cfg.QAT.Enabled {
		t.Fatalf("reopened %d quantized layers, QAT enabled %v; want %d", len(qs), cfg.QAT.Enabled, res.Layers)
	}
	out := filepath.Join(t.TempDir(), "int8.safetensors")
	if err := ExportInt8(out, m, qs, cfg); err != nil {
		t.Fatal(err)
	}
	m8, qs8, _, err := OpenModel(be, out, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs8) != len(qs) {
		t.Fatalf("export reloads with %d quantized layers, want %d", len(qs8), len(qs))
	}
	data, err := LoadData(context.Background(), cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	evalOf := func(m *models.Model) EvalResult {
		r, err := Evaluate(context.Background(), m, data.Test, data.EvalPipe, 100, 2)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	got, want := evalOf(m8), evalOf(m)
	if got.Top1 != want.Top1 || got.Top1 != res.QATTop1 || got.Loss != want.Loss {
		t.Errorf("int8 export: top-1 %.4f loss %.9f; QAT model %.4f loss %.9f; reported %.4f", got.Top1, got.Loss, want.Top1, want.Loss, res.QATTop1)
	}
	gotLogits, wantLogits := testLogits(t, m8, data), testLogits(t, m, data)
	k := m.Config.NumClasses
	if len(wantLogits) != want.Images*k || len(gotLogits) != len(wantLogits) {
		t.Fatalf("%d logits from the export, %d from the QAT model; want %d images × %d classes", len(gotLogits), len(wantLogits), want.Images, k)
	}
	for i := range wantLogits {
		if g, w := gotLogits[i], wantLogits[i]; math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("int8 export: logit %d (image %d, class %d) = %v (%#08x), QAT model %v (%#08x)", i, i/k, i%k, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
	// The export really holds int8 weights and positive scales.
	buf, _ := os.ReadFile(out)
	f, err := safetensors.Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	i8 := 0
	for _, tn := range f.Tensors {
		if tn.DType == safetensors.I8 {
			i8++
		}
		if strings.HasSuffix(tn.Name, ".weight_scale") {
			for _, s := range leF32(tn.Data) {
				if !(s > 0) {
					t.Fatalf("%s holds scale %v", tn.Name, s)
				}
			}
		}
	}
	if i8 != len(qs) {
		t.Errorf("%d int8 tensors in the export, want one per quantized layer (%d)", i8, len(qs))
	}
}

// testLogits runs m in evaluation mode over every image of data.Test, in
// index order, and returns the logits [images, classes].
func testLogits(t *testing.T, m *models.Model, data *Data) []float32 {
	t.Helper()
	loader, err := datasets.NewLoader(context.Background(), datasets.LoaderConfig{Dataset: data.Test, Pipeline: data.EvalPipe, BatchSize: 64, Workers: 2, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	m.SetTraining(false)
	be := m.Backend
	var all []float32
	for {
		b, err := loader.Next()
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
		x, err := be.Alloc(kernels.Shape{b.N, b.H, b.W, b.C})
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Upload(x, b.Images); err != nil {
			t.Fatal(err)
		}
		logits, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, logits.Len())
		if err := be.Download(v, logits); err != nil {
			t.Fatal(err)
		}
		all = append(all, v...)
		be.Free(x)
	}
}

// TestQATBadInput covers a QAT configuration for a checkpoint of another
// model, an export with a zero scale and quantizer state with NaN ranges.
func TestQATBadInput(t *testing.T) {
	q := qatRun(t)
	other := quickConfig(t, 2)
	other.Model.Variant = "femto"
	other.QAT.Enabled, other.QAT.From = true, q.QAT.From
	_, err := New(context.Background(), other, cpu.New(), nil)
	var ce *models.CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "qat.from") || !strings.Contains(err.Error(), "another model") {
		t.Errorf("QAT of atto weights into femto: %v", err)
	}

	be := cpu.New()
	last := filepath.Join(q.Train.OutDir, "last.safetensors")
	m, qs, cfg, err := OpenModel(be, last, false)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "int8.safetensors")
	if err := ExportInt8(out, m, qs, cfg); err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(*safetensors.Tensor) bool) string {
		buf, _ := os.ReadFile(out)
		f, _ := safetensors.Parse(buf)
		for i := range f.Tensors {
			if edit(&f.Tensors[i]) {
				break
			}
		}
		p := filepath.Join(t.TempDir(), "bad.safetensors")
		w, _ := os.Create(p)
		f.Serialize(w)
		w.Close()
		return p
	}
	zero := rewrite(func(tn *safetensors.Tensor) bool {
		if !strings.HasSuffix(tn.Name, ".weight_scale") {
			return false
		}
		tn.Data = f32LE(make([]float32, len(tn.Data)/4))
		return true
	})
	if _, _, _, err := LoadInt8(be, zero); err == nil || !strings.Contains(err.Error(), "scale 0") {
		t.Errorf("zero scale: %v", err)
	}
	nan := rewrite(func(tn *safetensors.Tensor) bool {
		if !strings.HasPrefix(tn.Name, quantTensorPrefix) || !strings.HasSuffix(tn.Name, "input_fake_quant.max_val") {
			return false
		}
		tn.Data = f32LE([]float32{float32(math.NaN())})
		return true
	})
	if _, _, _, err := LoadInt8(be, nan); !errors.Is(err, kernels.ErrNaN) {
		t.Errorf("NaN statistics: %v", err)
	}
	if _, _, _, err := LoadInt8(be, last); err == nil || !strings.Contains(err.Error(), "not an int8 export") {
		t.Errorf("training checkpoint as an int8 export: %v", err)
	}
}
