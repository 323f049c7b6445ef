package trainer

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

func TestRank(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name   string
		scores []float32
		y      int
		want   int
	}{
		{"strict first", []float32{0.1, 0.7, 0.2}, 1, 0},
		{"second", []float32{0.1, 0.7, 0.2}, 2, 1},
		{"last", []float32{0.1, 0.7, 0.2}, 0, 2},
		{"tie with one other is a miss for top-1", []float32{0.5, 0.5, 0.1}, 0, 1},
		{"tie counts whichever side the target is on", []float32{0.5, 0.5, 0.1}, 1, 1},
		{"all equal: last place", []float32{3, 3, 3, 3, 3, 3}, 2, 5},
		{"tie below the target does not count", []float32{0.9, 0.05, 0.05}, 0, 0},
		{"single class", []float32{-1}, 0, 0},
		{"negative logits", []float32{-3, -1, -2}, 1, 0},
		{"NaN elsewhere never ranks above (hits rejects it first)", []float32{nan, 1}, 1, 0},
	} {
		if got := rank(tc.scores, tc.y); got != tc.want {
			t.Errorf("%s: rank(%v, %d) = %d, want %d", tc.name, tc.scores, tc.y, got, tc.want)
		}
	}
}

func TestHits(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name       string
		logits     []float32 // rows of k = 6
		labels     []int
		first      int
		top1, top5 int
		err        []string
	}{
		{"distinct", []float32{6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6}, []int{0, 0}, 0, 1, 1, nil},
		{"fifth place is top-5", []float32{6, 5, 4, 3, 2, 1}, []int{4}, 0, 0, 1, nil},
		{"tied at fifth is not", []float32{6, 5, 4, 3, 2, 2}, []int{4}, 0, 0, 0, nil},
		{"collapsed model scores nothing", make([]float32, 12), []int{0, 5}, 0, 0, 0, nil},
		{"NaN names the sample's index in the set", []float32{1, 2, 3, 4, 5, 6, 1, 2, float32(math.NaN()), 4, 5, 6}, []int{0, 3}, 500,
			0, 0, []string{"sample 501", "label 3", "logit 2 is NaN"}},
		{"Inf too", []float32{1, 2, 3, 4, 5, inf}, []int{5}, 7, 0, 0, []string{"sample 7", "+Inf"}},
	} {
		top1, top5, err := hits(tc.logits, tc.labels, 6, tc.first)
		if tc.err != nil {
			if !errors.Is(err, kernels.ErrNaN) {
				t.Errorf("%s: error %v does not wrap ErrNaN", tc.name, err)
				continue
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
				}
			}
			continue
		}
		if err != nil || top1 != tc.top1 || top5 != tc.top5 {
			t.Errorf("%s: hits = %d, %d, %v; want %d, %d", tc.name, top1, top5, err, tc.top1, tc.top5)
		}
	}
}

// evalFixture returns a small 10-class model with random weights and 37
// random 28×28 one-channel images (two batches of 32 and 5).
func evalFixture(t *testing.T) (*models.Model, datasets.Dataset, *datasets.Pipeline) {
	t.Helper()
	cfg, err := models.Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dims, cfg.Depths, cfg.StemPatch, cfg.InChans, cfg.NumClasses = []int{8, 16, 24, 32}, []int{1, 1, 1, 1}, 2, 1, 10
	m, err := models.New(cpu.New(), cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	info := datasets.FashionMNISTInfo()
	r := rand.New(rand.NewPCG(1, 2))
	pix, labels := make([]uint8, 37*28*28), make([]uint8, 37)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(r.IntN(10))
	}
	ds, err := datasets.NewMemory(info, pix, labels)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := datasets.NewEvalPipeline(info, 0, 0, datasets.Bicubic, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, ds, pipe
}

// setHead sets the classifier's weights to w and its bias to b.
func setHead(t *testing.T, m *models.Model, w float32, b []float32) {
	t.Helper()
	ws := make([]float32, m.Head.Weight.Value.Len())
	for i := range ws {
		ws[i] = w
	}
	if err := m.Backend.Upload(m.Head.Weight.Value, ws); err != nil {
		t.Fatal(err)
	}
	if err := m.Backend.Upload(m.Head.Bias.Value, b); err != nil {
		t.Fatal(err)
	}
}

// TestEvaluateTiesAndNaN: a collapsed model (every logit equal) scores 0 %
// top-1 and top-5, where counting ties as hits gave 100 %; a NaN weight is
// an error naming the first sample, not a 100 % score with a NaN loss; a
// healthy model's counts add up.
func TestEvaluateTiesAndNaN(t *testing.T) {
	m, ds, pipe := evalFixture(t)
	ctx := context.Background()
	res, err := Evaluate(ctx, m, ds, pipe, 32, 2)
	if err != nil || res.Images != 37 || !(res.Top1 <= res.Top5) || !(res.Loss > 0) {
		t.Fatalf("random model: %+v, %v", res, err)
	}

	setHead(t, m, 0, make([]float32, 10))
	res, err = Evaluate(ctx, m, ds, pipe, 32, 2)
	if err != nil || res.Top1 != 0 || res.Top5 != 0 || res.Images != 37 {
		t.Errorf("collapsed model: %+v, %v; want 0 %% top-1 and top-5 over 37 images", res, err)
	}
	if want := math.Log(10); math.Abs(res.Loss-want) > 1e-5 {
		t.Errorf("collapsed model loss %v, want ln 10 = %v", res.Loss, want)
	}

	bias := make([]float32, 10)
	bias[3] = float32(math.NaN())
	setHead(t, m, 0, bias)
	_, err = Evaluate(ctx, m, ds, pipe, 32, 2)
	if !errors.Is(err, kernels.ErrNaN) || !strings.Contains(err.Error(), "sample 0 ") || !strings.Contains(err.Error(), "logit 3 is NaN") {
		t.Errorf("NaN head: %v; want an ErrNaN naming sample 0 and logit 3", err)
	}
}
