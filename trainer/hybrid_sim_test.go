package trainer

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// TestHybridStepOnSimulator runs one forward and backward of two small spec
// models on the simulated CUDA backend and on the CPU: a ConvNeXt V2 with
// ECA, and a hybrid of every efficient block kind (MBConv with SE, Fused-MBConv,
// UIB, depthwise-separable) before ConvNeXt V2 stages. BatchNorm runs in
// training mode (batch statistics); logits, every parameter gradient and the
// BatchNorm running statistics after the step must agree.
func TestHybridStepOnSimulator(t *testing.T) {
	sim, closeSim, err := OpenBackend("cudasim")
	if err != nil {
		t.Skipf("cudasim: %v", err)
	}
	defer closeSim()
	base, err := models.Variant("convnextv2_atto")
	if err != nil {
		t.Fatal(err)
	}
	base.NumClasses, base.StemPatch = 5, 2
	eca := base
	eca.Name = "eca_tiny"
	eca.Stages = []models.StageSpec{
		{Kind: "convnext", Depth: 1, Dim: 12, Params: models.Params{"kernel": 3, "eca": true}},
		{Kind: "convnext", Depth: 1, Dim: 20, Params: models.Params{"kernel": 5, "eca": true}},
	}
	hybrid := base
	hybrid.Name = "hybrid_tiny"
	hybrid.Stages = []models.StageSpec{
		{Kind: "dsconv", Depth: 1, Dim: 8, Params: models.Params{"kernel": 3, "se": 0.25, "act": "relu"}},
		{Kind: "mbconv", Depth: 2, Dim: 12, Stride: 2, Params: models.Params{"kernel": 5, "expand": 3, "se": 0.25}},
		{Kind: "fused_mbconv", Depth: 1, Dim: 16, Params: models.Params{"kernel": 3, "expand": 2, "act": "hardswish"}},
		{Kind: "uib", Depth: 1, Dim: 16, Params: models.Params{"kernel": 3, "start_kernel": 3, "expand": 2, "layer_scale": 1e-5}},
		{Kind: "convnext", Depth: 1, Dim: 20, Params: models.Params{"kernel": 3}},
	}
	for _, c := range []models.Config{eca, hybrid} {
		t.Run(c.Name, func(t *testing.T) {
			c = c.Resolved()
			wantLogits, wantGrads, wantBufs := hybridStep(t, cpu.New(), c, 0)
			gotLogits, gotGrads, gotBufs := hybridStep(t, sim, c, 0)
			testutil.AllClose(t, "logits", gotLogits, wantLogits, 1e-4, 1e-5)
			m, err := models.New(cpu.New(), c, 3)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range m.Params() {
				testutil.AllClose(t, "grad "+p.Name, gotGrads[i], wantGrads[i], 1e-3, 1e-5)
			}
			if len(gotBufs) != len(wantBufs) {
				t.Fatalf("%d buffers on the simulator, %d on the CPU", len(gotBufs), len(wantBufs))
			}
			for i := range wantBufs {
				testutil.AllClose(t, fmt.Sprintf("buffer %d", i), gotBufs[i], wantBufs[i], 1e-4, 1e-6)
			}
			if c.Name == "hybrid_tiny" && len(wantBufs) == 0 {
				t.Fatal("the hybrid has no BatchNorm buffers: the test no longer covers BatchNorm")
			}
		})
	}
}

// hybridStep runs one training-mode forward and backward of a fresh model of
// c (seed 3) on be, on a batch of two h × (h+2) images (h 0: the smallest
// odd size the model takes, at least 9), and returns the logits, every parameter gradient and every
// buffer (BatchNorm running statistics) after the step.
func hybridStep(t *testing.T, be kernels.Backend, c models.Config, h int) ([]float32, [][]float32, [][]float32) {
	t.Helper()
	m, err := models.New(be, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(true)
	if h == 0 {
		h = max(9, m.MinInput()+1)
	}
	x, _ := be.Alloc(kernels.Shape{2, h, h + 2, 3})
	xs := make([]float32, x.Len())
	for i := range xs {
		xs[i] = float32(i%13)/6 - 1
	}
	target, _ := be.Alloc(kernels.Shape{2, 5})
	ts := make([]float32, 10)
	ts[1], ts[8] = 1, 1
	if err := be.Upload(x, xs); err != nil {
		t.Fatal(err)
	}
	if err := be.Upload(target, ts); err != nil {
		t.Fatal(err)
	}
	if err := m.Arena.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	logits, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	ce := layers.NewCrossEntropy(be)
	if _, err := ce.Forward(logits, target); err != nil {
		t.Fatal(err)
	}
	dl, err := ce.BackwardScaled(0.5)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, logits.Len())
	if err := be.Download(out, logits); err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(dl); err != nil {
		t.Fatal(err)
	}
	download := func(ts kernels.Tensor) []float32 {
		v := make([]float32, ts.Len())
		if err := be.Download(v, ts); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var grads, bufs [][]float32
	for _, p := range m.Params() {
		grads = append(grads, download(p.Grad))
	}
	layers.Walk(m.Net, func(l layers.Layer) {
		if h, ok := l.(layers.BufferHolder); ok {
			for _, b := range h.Buffers() {
				bufs = append(bufs, download(b.Value))
			}
		}
	})
	return out, grads, bufs
}

// TestHybridTOML reads MBConv and ConvNeXt stages from TOML (the example of
// docs/EFFICIENT.md §7) and checks that they build the hybrid_mbconv_atto
// preset: the same parameter names and shapes.
func TestHybridTOML(t *testing.T) {
	c, err := Load(writeConfig(t, `
[model]
name = "mine"
stem_patch = 4

[[model.stages]]
kind = "mbconv"
depth = 2
dim = 40
expand = 4
se = 0.25
[[model.stages]]
kind = "mbconv"
depth = 2
dim = 80
expand = 4
se = 0.25
[[model.stages]]
kind = "convnext"
depth = 6
dim = 160
[[model.stages]]
kind = "convnext"
depth = 2
dim = 320
`))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.ModelConfig(3, 10)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := models.Variant("hybrid_mbconv_atto")
	if err != nil {
		t.Fatal(err)
	}
	pc.NumClasses = 10
	got, err := models.New(cpu.New(), mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := models.New(cpu.New(), pc, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Params()) != len(want.Params()) || got.NumParams() != want.NumParams() {
		t.Fatalf("%d tensors, %d params; preset %d, %d", len(got.Params()), got.NumParams(), len(want.Params()), want.NumParams())
	}
	for i, p := range got.Params() {
		if q := want.Params()[i]; p.Name != q.Name || !p.Shape().Equal(q.Shape()) {
			t.Errorf("param %d: %s %v, preset %s %v", i, p.Name, p.Shape(), q.Name, q.Shape())
		}
	}
}
