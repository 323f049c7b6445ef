package onnx

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/ort"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// runner returns the ONNX Runtime checker or skips the test saying why.
func runner(t *testing.T) *ort.Runner {
	t.Helper()
	r, err := ort.Find()
	if errors.Is(err, ort.ErrMissing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newModel builds variant name with inChans channels and classes outputs
// from seed, then moves every 1-D parameter (biases, LayerNorm, GRN, layer
// scale) off its init (1, 0 or 1e-6), so the export of each is exercised:
// GRN at its zero init would be the identity.
func newModel(t testing.TB, name string, stem, inChans, classes int, seed uint64) *models.Model {
	t.Helper()
	mc, err := models.Variant(name)
	if err != nil {
		t.Fatal(err)
	}
	mc.StemPatch, mc.InChans, mc.NumClasses = stem, inChans, classes
	be := cpu.New()
	m, err := models.New(be, mc, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params() {
		if len(p.Shape()) != 1 {
			continue
		}
		v := make([]float32, p.Value.Len())
		if err := be.Download(v, p.Value); err != nil {
			t.Fatal(err)
		}
		for i := range v {
			v[i] += float32(0.3 * rng.NormFloat64())
		}
		if err := be.Upload(p.Value, v); err != nil {
			t.Fatal(err)
		}
	}
	m.SetTraining(false)
	return m
}

// forward returns m's logits for the NCHW batch x, as `train forward`
// computes them.
func forward(t testing.TB, m *models.Model, x []float32, n, c, h, w int) []float32 {
	t.Helper()
	be := m.Backend
	xt, err := be.Alloc(kernels.Shape{n, h, w, c})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(xt)
	if err := be.Upload(xt, models.NCHWToNHWC(x, n, c, h, w)); err != nil {
		t.Fatal(err)
	}
	y, err := m.Forward(xt)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, y.Len())
	if err := be.Download(out, y); err != nil {
		t.Fatal(err)
	}
	return out
}

func randn(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// maxRelErr returns max |got − want| / max |want|.
func maxRelErr(got, want []float32) float64 {
	var d, s float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = math.Max(s, math.Abs(float64(want[i])))
	}
	return d / s
}

func meta(m *models.Model, size int) Metadata {
	c := m.Config.InChans
	md := Metadata{InputSize: size, Mean: make([]float64, c), Std: make([]float64, c)}
	for i := range c {
		md.Mean[i], md.Std[i] = 0.5, 0.25
	}
	return md
}

// TestFloatExportMatchesForward holds ONNX Runtime's logits, with every
// graph optimization on, against the model's own forward pass (what `train
// forward` computes) for V2-Atto, V1-Atto and Tiny at batch 1 and 5.
func TestFloatExportMatchesForward(t *testing.T) {
	r := runner(t)
	cases := []struct {
		variant     string
		stem, c, hw int
	}{
		{"atto", 2, 1, 28},            // the quick-start shape
		{"convnext_atto", 4, 3, 32},   // V1: layer scale, no GRN
		{"convnextv2_tiny", 4, 3, 32}, // 28.6 M parameters
	}
	for _, tc := range cases {
		t.Run(tc.variant, func(t *testing.T) {
			m := newModel(t, tc.variant, tc.stem, tc.c, 10, 1)
			dir := t.TempDir()
			path := filepath.Join(dir, "model.onnx")
			if err := Write(path, m, meta(m, tc.hw), Options{}); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 5} {
				x := randn(n*tc.c*tc.hw*tc.hw, uint64(n))
				want := forward(t, m, x, n, tc.c, tc.hw, tc.hw)
				got, res, err := r.Run(dir, path, x, []int{n, tc.c, tc.hw, tc.hw}, ort.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Shape) != 2 || res.Shape[0] != n || res.Shape[1] != 10 {
					t.Fatalf("batch %d: ONNX Runtime output shape %v, want [%d 10]", n, res.Shape, n)
				}
				e := maxRelErr(got, want)
				t.Logf("batch %d: max |ORT − forward| / max |forward| = %.2e", n, e)
				if !(e <= 1e-4) {
					t.Errorf("batch %d: relative error %.3g > 1e-4\nort     %v\nforward %v", n, e, got[:10], want[:10])
				}
			}
		})
	}
}
