package prune

import (
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestAttoMACsReduction: removing half of every block's MLP hidden
// channels (per-layer scope) takes V2-Atto with the 2×2 stem (the
// Fashion-MNIST and study reference) to 30–50 % fewer MACs at 28² and 32²,
// the range issue 14 asks of the study's pruned candidate.
func TestAttoMACsReduction(t *testing.T) {
	cfg, err := models.Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StemPatch, cfg.InChans, cfg.NumClasses = 2, 1, 10
	be := cpu.New()
	m, err := models.New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, ratio := range []float64{0.5, 0.6} {
		res, err := Prune(m, Options{Ratio: ratio, Criterion: L1, Scope: Layer}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range []int{28, 32} {
			before, _ := m.Describe(1, side, side, 4)
			after, err := res.Model.Describe(1, side, side, 4)
			if err != nil {
				t.Fatal(err)
			}
			b, a := models.Totals(before).MACs, models.Totals(after).MACs
			cut := 1 - float64(a)/float64(b)
			t.Logf("ratio %.1f at %d²: %d → %d parameters, %.2f → %.2f MMACs (%.1f%% fewer)", ratio, side, res.ParamsBefore, res.ParamsAfter, float64(b)/1e6, float64(a)/1e6, 100*cut)
			if ratio == 0.5 && !(cut >= 0.30 && cut <= 0.50) {
				t.Errorf("ratio 0.5 at %d²: %.1f%% fewer MACs, want 30–50 %%", side, 100*cut)
			}
		}
	}
}
