package prune

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// TestTaylorFiniteDifference: on one sample, the Taylor score of channel c
// is |Σ a·∂L/∂a| = |dL/dε| for a → a·(1+ε) on channel c. Without GRN that
// scaling is exactly fc2's column c times (1+ε), so a central finite
// difference of the loss over that column checks every score.
func TestTaylorFiniteDifference(t *testing.T) {
	be := cpu.New()
	cfg := models.Config{Name: "toy", Depths: []int{1}, Dims: []int{4}, InChans: 1, NumClasses: 3, StemPatch: 1,
		Kernel: 3, MLPRatio: 2, GRN: false, HeadInitScale: 1, Eps: 1e-6}
	m, err := models.New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, m, 9, 0.6)
	rng := rand.New(rand.NewPCG(9, 9))
	img := make([]float32, 9)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	batch := &datasets.Batch{Images: img, Labels: []int{2}, N: 1, H: 3, W: 3, C: 1}
	sites := Sites(m)
	s, err := Scores(m, sites, Taylor, []*datasets.Batch{batch})
	if err != nil {
		t.Fatal(err)
	}
	fc2 := sites[0].Block.FC2
	w2, _ := download(be, fc2.Weight.Value) // [4, 8]
	loss := func(w []float32) float64 {
		if err := be.Upload(fc2.Weight.Value, w); err != nil {
			t.Fatal(err)
		}
		x, _ := be.Alloc(kernels.Shape{1, 3, 3, 1})
		tgt, _ := be.Alloc(kernels.Shape{1, 3})
		be.Upload(x, img)
		be.Upload(tgt, []float32{0, 0, 1})
		m.SetTraining(false)
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		l, err := layers.NewCrossEntropy(be).Forward(y, tgt)
		if err != nil {
			t.Fatal(err)
		}
		v, err := layers.MeanLoss(be, l)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const eps = 1e-2
	for c := range 8 {
		scaled := func(f float32) []float32 {
			w := append([]float32(nil), w2...)
			for o := range 4 {
				w[o*8+c] *= f
			}
			return w
		}
		fd := math.Abs(loss(scaled(1+eps))-loss(scaled(1-eps))) / (2 * eps)
		if math.Abs(fd-s[0][c]) > 1e-3+0.02*fd {
			t.Errorf("channel %d: Taylor score %v, finite difference %v", c, s[0][c], fd)
		}
	}
	loss(w2)
}
