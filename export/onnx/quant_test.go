package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/nextconv/nextconv/export/onnx/onnxpb"
	"github.com/nextconv/nextconv/internal/ort"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// quantize wraps m for W8A8 QAT (the default: int8 symmetric per-channel
// weights, int8 per-tensor activations, stem and head float), calibrates
// the observers on batches of x and turns fake quantization on:
// post-training quantization, the state an int8 checkpoint is in.
func quantize(t testing.TB, m *models.Model, cfg qat.Config, x []float32, n, c, hw int) []*qat.Quantized {
	t.Helper()
	qs, err := qat.QuantizeModel(m.Backend, m.Net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	qat.SetFakeQuant(qs, false)
	qat.SetCalibration(qs, true)
	forward(t, m, x, n, c, hw, hw)
	qat.SetCalibration(qs, false)
	qat.FreezeObservers(qs)
	qat.SetFakeQuant(qs, true)
	return qs
}

// readModel decodes an ONNX file.
func readModel(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	return &mp
}

// opCounts counts a graph's nodes by op type.
func opCounts(mp *onnxpb.ModelProto) map[string]int {
	c := map[string]int{}
	for _, n := range mp.GetGraph().GetNode() {
		c[n.GetOpType()]++
	}
	return c
}

// TestQDQExportMatchesFakeQuant exports a calibrated W8A8 V2-Atto as QDQ
// and checks that ONNX Runtime's logits agree with the fake-quantized
// forward pass, that weights are int8 initializers with per-channel
// DequantizeLinear (axis set), and that the optimized graph ONNX Runtime
// runs contains integer matrix products, for int8 activations and for the
// same stored as uint8.
func TestQDQExportMatchesFakeQuant(t *testing.T) {
	r := runner(t)
	const n, c, hw = 8, 1, 28
	m := newModel(t, "atto", 2, c, 10, 3)
	x := randn(n*c*hw*hw, 11)
	qs := quantize(t, m, qat.DefaultConfig(), x, n, c, hw)
	logits := forward(t, m, x, n, c, hw, hw)

	dir := t.TempDir()
	path := filepath.Join(dir, "int8.onnx")
	if err := Write(path, m, meta(m, hw), Options{}); err != nil {
		t.Fatal(err)
	}
	mp := readModel(t, path)
	ops := opCounts(mp)
	// Each quantized layer: one DequantizeLinear on its weight, one
	// QuantizeLinear/DequantizeLinear pair on its input.
	if ops["QuantizeLinear"] != len(qs) || ops["DequantizeLinear"] != 2*len(qs) {
		t.Errorf("%d quantized layers but %d QuantizeLinear and %d DequantizeLinear", len(qs), ops["QuantizeLinear"], ops["DequantizeLinear"])
	}
	int8s := 0
	for _, in := range mp.GetGraph().GetInitializer() {
		if in.GetDataType() == int32(onnxpb.TensorProto_INT8) && strings.HasSuffix(in.GetName(), ".weight_quantized") {
			int8s++
		}
	}
	if int8s != len(qs) {
		t.Errorf("%d int8 weight initializers, want %d", int8s, len(qs))
	}
	for _, nd := range mp.GetGraph().GetNode() {
		if nd.GetOpType() == "DequantizeLinear" && strings.HasSuffix(nd.GetName(), ".weight/DequantizeLinear") {
			if len(nd.GetAttribute()) != 1 || nd.GetAttribute()[0].GetName() != "axis" {
				t.Fatalf("%s: attributes %v, want axis", nd.GetName(), nd.GetAttribute())
			}
			want := int64(0)
			if strings.Contains(nd.GetName(), ".mlp.fc") {
				want = 1 // a Linear's weight is written [In, Out]
			}
			if a := nd.GetAttribute()[0].GetI(); a != want {
				t.Errorf("%s: axis %d, want %d", nd.GetName(), a, want)
			}
		}
	}

	for _, o := range []Options{{}, {UInt8Activations: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			if err := Write(path, m, meta(m, hw), o); err != nil {
				t.Fatal(err)
			}
			want := onnxpb.TensorProto_INT8
			if o.UInt8Activations {
				want = onnxpb.TensorProto_UINT8
			}
			for _, in := range readModel(t, path).GetGraph().GetInitializer() {
				if strings.HasSuffix(in.GetName(), "input_fake_quant.zero_point") && in.GetDataType() != int32(want) {
					t.Fatalf("%s has type %d, want %v", in.GetName(), in.GetDataType(), want)
				}
			}
			qdqMatches(t, r, dir, path, x, logits)
		})
	}
}

// qdqMatches runs the QDQ model at path in ONNX Runtime on x [8, 1, 28, 28]
// and requires its logits to agree with the fake-quantized forward pass
// want, and the optimized graph to contain integer ops.
func qdqMatches(t *testing.T, r *ort.Runner, dir, path string, x, want []float32) {
	t.Helper()
	const n = 8
	opt := filepath.Join(dir, "optimized.onnx")
	got, _, err := r.Run(dir, path, x, []int{n, 1, 28, 28}, ort.Options{Optimized: opt})
	if err != nil {
		t.Fatal(err)
	}
	e := maxRelErr(got, want)
	agree := 0
	for i := range n {
		if argmax(got[i*10:(i+1)*10]) == argmax(want[i*10:(i+1)*10]) {
			agree++
		}
	}
	t.Logf("max |ORT − fake quant| / max |fake quant| = %.2e; top-1 agrees on %d of %d", e, agree, n)
	// ONNX Runtime divides by the scale where the fake quantizer multiplies
	// by its reciprocal, and accumulates in another order, so an input that
	// lands on a rounding boundary may move by one step: close, not equal.
	if !(e <= 2e-2) || agree != n {
		t.Errorf("QDQ export departs from the fake-quantized model: relative error %.3g, top-1 agreement %d/%d", e, agree, n)
	}
	optOps, integer, err := ort.OpCounts(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("optimized graph: %v", optOps)
	if integer == 0 {
		t.Errorf("ONNX Runtime's optimized graph has no integer ops: %v", optOps)
	}
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

// TestExportBadInput: a layer ONNX cannot express, wrong metadata and an
// input below the model's minimum are errors, and no file is left behind.
func TestExportBadInput(t *testing.T) {
	m := newModel(t, "atto", 2, 1, 10, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	md := meta(m, 28)
	if err := Write(path, m, Metadata{InputSize: 28, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{1, 1, 1}}, Options{}); err == nil || !strings.Contains(err.Error(), "input channels") {
		t.Errorf("3 mean values for a 1-channel model: %v", err)
	}
	if err := Write(path, m, Metadata{InputSize: 28, Mean: md.Mean, Std: md.Std, Classes: []string{"a"}}, Options{}); err == nil || !strings.Contains(err.Error(), "class names") {
		t.Errorf("1 class name for 10 classes: %v", err)
	}
	if err := Write(path, m, meta(m, 8), Options{}); err == nil || !strings.Contains(err.Error(), "below") {
		t.Errorf("8-pixel input for a model needing 16: %v", err)
	}
	m.Net.Layers = append(m.Net.Layers, opaque{})
	err := Write(path, m, md, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "custom.op") {
		t.Errorf("a layer without an ONNX spelling: %v, want ErrUnsupported naming the layer", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("a failed export left %s behind", path)
	}
}

// opaque is a layer the exporter does not know.
type opaque struct{ layers.Layer }

func (opaque) Name() string { return "custom.op" }

// TestQDQLowBit exports W4A4 fake quantization (weights −7..7 per
// channel, activations −8..7 per tensor): the weights are written as int8
// values in the narrow range and each activation is clipped to its grid
// before an int8 QuantizeLinear, so ONNX Runtime still matches the
// fake-quantized forward pass.
func TestQDQLowBit(t *testing.T) {
	r := runner(t)
	const n, c, hw = 8, 1, 28
	m := newModel(t, "atto", 2, c, 10, 5)
	x := randn(n*c*hw*hw, 13)
	cfg := qat.DefaultConfig()
	cfg.Weight.Scheme.QMin, cfg.Weight.Scheme.QMax = -7, 7
	cfg.Input.Scheme.QMin, cfg.Input.Scheme.QMax = -8, 7
	qs := quantize(t, m, cfg, x, n, c, hw)
	logits := forward(t, m, x, n, c, hw, hw)
	dir := t.TempDir()
	path := filepath.Join(dir, "w4a4.onnx")
	if err := Write(path, m, meta(m, hw), Options{}); err != nil {
		t.Fatal(err)
	}
	if clips := opCounts(readModel(t, path))["Clip"]; clips != len(qs) {
		t.Errorf("%d Clip nodes for %d 4-bit activation quantizers", clips, len(qs))
	}
	qdqMatches(t, r, dir, path, x, logits)
}
