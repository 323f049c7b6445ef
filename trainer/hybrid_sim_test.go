package trainer

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// TestAttentionStepOnSimulator runs one training step's forward, cross-
// entropy and backward of a small ConvNeXt V2 with ECA in both stages (odd
// widths and sizes, 3×3 and 5×5 kernels) on the simulated CUDA backend and
// on the CPU: logits and every parameter gradient must agree. SE and the
// BatchNorm-based efficient blocks (MBConv, Fused-MBConv, UIB) are not run
// here: the CUDA backend has no activation (ReLU, SiLU) or BatchNorm
// kernels yet and refuses them (the test notes when that changes).
func TestAttentionStepOnSimulator(t *testing.T) {
	c, err := models.Variant("convnextv2_atto")
	if err != nil {
		t.Fatal(err)
	}
	c.Name, c.NumClasses, c.StemPatch = "se_eca_tiny", 5, 2
	c.Stages = []models.StageSpec{
		{Kind: "convnext", Depth: 1, Dim: 12, Params: models.Params{"kernel": 3, "eca": true}},
		{Kind: "convnext", Depth: 1, Dim: 20, Params: models.Params{"kernel": 5, "eca": true}},
	}
	c = c.Resolved()
	sim, closeSim, err := OpenBackend("cudasim")
	if err != nil {
		t.Skipf("cudasim: %v", err)
	}
	defer closeSim()
	step := func(be kernels.Backend) ([]float32, [][]float32) {
		m, err := models.New(be, c, 3)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := be.Alloc(kernels.Shape{2, 9, 11, 3})
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
		var grads [][]float32
		for _, p := range m.Params() {
			g := make([]float32, p.Grad.Len())
			if err := be.Download(g, p.Grad); err != nil {
				t.Fatal(err)
			}
			grads = append(grads, g)
		}
		return out, grads
	}
	wantLogits, wantGrads := step(cpu.New())
	gotLogits, gotGrads := step(sim)
	testutil.AllClose(t, "logits", gotLogits, wantLogits, 1e-4, 1e-5)
	m, _ := models.New(cpu.New(), c, 3)
	for i, p := range m.Params() {
		testutil.AllClose(t, "grad "+p.Name, gotGrads[i], wantGrads[i], 1e-3, 1e-5)
	}

	// MBConv needs BatchNorm and SiLU, which the CUDA backend refuses for now.
	h, _ := models.Variant("hybrid_mbconv_atto")
	h.NumClasses = 5
	hm, err := models.New(sim, h, 1)
	if err == nil {
		x, _ := sim.Alloc(kernels.Shape{1, 32, 32, 3})
		hm.SetTraining(true)
		_, err = hm.Forward(x)
	}
	if err == nil {
		t.Log("the CUDA backend now runs BatchNorm and SiLU: extend this test to the MBConv hybrid")
	}
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
