package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/maruel/safetensors"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// qatRun trains a float model for 6 steps, then fine-tunes it with QAT for
// 4 steps (2 calibration batches, observers frozen after 2 steps) at the
// given bit widths and returns the QAT configuration.
func qatRun(t *testing.T, weightBits, activationBits int) Config {
	t.Helper()
	float := quickConfig(t, 6)
	if err := run(t, float, 0); err != nil {
		t.Fatal(err)
	}
	q := quickConfig(t, 4)
	q.QAT.Enabled, q.QAT.From, q.QAT.CalibrationBatches, q.QAT.FreezeAfter = true, filepath.Join(float.Train.OutDir, "last.safetensors"), 2, 2
	q.Optim.LR = 1e-4
	q.QAT.WeightBits, q.QAT.ActivationBits = weightBits, activationBits
	if err := run(t, q, 0); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQATExportReproducesAccuracy fine-tunes with QAT at W8A8 and at W2A4,
// exports the integer weights and scales, reloads the export and requires
// its test accuracy to equal the QAT model's exactly and its loss and every
// test logit bit for bit. The checkpoint and the export must record the bit
// widths, the export's weights must lie on the b-bit grid and use its ends,
// and below 8 bits every weight quantizer must be learning its step size
// (LSQ).
func TestQATExportReproducesAccuracy(t *testing.T) {
	for _, bits := range [][2]int{{8, 8}, {2, 4}} {
		t.Run(fmt.Sprintf("W%dA%d", bits[0], bits[1]), func(t *testing.T) { testQATExport(t, bits[0], bits[1]) })
	}
}

func testQATExport(t *testing.T, weightBits, activationBits int) {
	q := qatRun(t, weightBits, activationBits)
	js, err := os.ReadFile(filepath.Join(q.Train.OutDir, "qat_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res QATResults
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatal(err)
	}
	if res.Layers == 0 || res.FloatTop1 <= 0 || res.PTQTop1 <= 0 || res.QATTop1 <= 0 || res.WeightBits != weightBits || res.ActivationBits != activationBits {
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
	if cfg.QAT.WeightBits != weightBits || cfg.QAT.ActivationBits != activationBits {
		t.Fatalf("checkpoint records W%dA%d, want W%dA%d", cfg.QAT.WeightBits, cfg.QAT.ActivationBits, weightBits, activationBits)
	}
	wmax := 1<<(weightBits-1) - 1
	for _, l := range qs {
		w, in := l.Weight.Config(), l.Input.Config()
		if w.Scheme.QMin != -wmax || w.Scheme.QMax != wmax || in.Scheme.QMin != -(1<<(activationBits-1)) || in.Scheme.Bits() != activationBits {
			t.Fatalf("%s: weight grid %v, input grid %v", l.Name(), w.Scheme, in.Scheme)
		}
		if lsq := weightBits < 8; w.LSQ != lsq || l.Weight.Learning() != lsq || in.LSQ {
			t.Fatalf("%s: weight LSQ %v (learning %v), input LSQ %v; want weight LSQ %v only", l.Name(), w.LSQ, l.Weight.Learning(), in.LSQ, lsq)
		}
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
	if f.Metadata[MetaWeightBits] != strconv.Itoa(weightBits) || f.Metadata[MetaActivationBits] != strconv.Itoa(activationBits) {
		t.Errorf("export metadata weight_bits %q activation_bits %q, want %d and %d",
			f.Metadata[MetaWeightBits], f.Metadata[MetaActivationBits], weightBits, activationBits)
	}
	i8, ends := 0, 0
	for _, tn := range f.Tensors {
		if tn.DType == safetensors.I8 {
			i8++
			for _, b := range tn.Data {
				v := int(int8(b))
				if v < -wmax || v > wmax {
					t.Fatalf("%s holds %d outside the %d-bit grid ±%d", tn.Name, v, weightBits, wmax)
				}
				if v == -wmax || v == wmax {
					ends++
				}
			}
		}
		if strings.HasSuffix(tn.Name, ".weight_scale") {
			for _, s := range leF32(tn.Data) {
				if !(s > 0) {
					t.Fatalf("%s holds scale %v", tn.Name, s)
				}
			}
		}
	}
	if i8 != len(qs) || ends == 0 {
		t.Errorf("%d int8 tensors in the export (want one per quantized layer, %d), %d values at the grid's ends", i8, len(qs), ends)
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
	q := qatRun(t, 8, 8)
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

// TestQATBitsValidation requires an error naming the key for every bit width
// outside what [qat] accepts, and accepts the ends of both ranges.
func TestQATBitsValidation(t *testing.T) {
	cases := []struct {
		w, a int
		want string // "" means valid
	}{
		{2, 4, ""}, {8, 8, ""}, {4, 8, ""},
		{1, 8, "qat.weight_bits 1 outside 2..8"}, {9, 8, "qat.weight_bits 9 outside 2..8"},
		{8, 3, "qat.activation_bits 3 outside 4..8"}, {8, 16, "qat.activation_bits 16 outside 4..8"},
	}
	for _, c := range cases {
		q := defaultQAT()
		q.Enabled, q.From, q.WeightBits, q.ActivationBits = true, "float.safetensors", c.w, c.a
		err := q.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("W%dA%d: %v, want %q", c.w, c.a, err, c.want)
		}
	}
	// A TOML [qat] section sets them; the stored default is W8A8.
	c := Default()
	if c.QAT.WeightBits != 8 || c.QAT.ActivationBits != 8 {
		t.Errorf("default W%dA%d, want W8A8", c.QAT.WeightBits, c.QAT.ActivationBits)
	}
	if err := c.decode("test", "[qat]\nweight_bits = 4\nactivation_bits = 6\n"); err != nil || c.QAT.WeightBits != 4 || c.QAT.ActivationBits != 6 {
		t.Errorf("decode: W%dA%d, %v", c.QAT.WeightBits, c.QAT.ActivationBits, err)
	}
}
