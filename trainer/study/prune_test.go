package study

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// TestStudyPrunedCandidate: a candidate with prune_ratio is trained, then
// pruned (Taylor, one calibration batch) and fine-tuned twice
// (prune_iterations = 2, 30 % of the channels left each time); its reported
// parameters and MACs are the last pruned model's (30–50 % fewer MACs than
// the unpruned Atto), its accuracy the last fine-tuning's, and a re-run
// skips it.
func TestStudyPrunedCandidate(t *testing.T) {
	needFashionMNIST(t)
	base := tinyStudy[:strings.Index(tinyStudy, "[[candidate]]")]
	text := strings.Replace(base, "qat_steps = 2", "prune_steps = 2\nprune_calib = 1", 1) +
		"[[candidate]]\nname = \"p\"\npreset = \"atto\"\nprune_ratio = 0.3\nprune_criterion = \"taylor\"\nprune_scope = \"layer\"\nprune_iterations = 2\n"
	out := t.TempDir()
	s, err := Load(writeStudy(t, text, out))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rs, err := Run(context.Background(), s, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	r := rs[0]
	dir := filepath.Join(out, "p")
	m, _, _, err := trainer.OpenModel(cpu.New(), filepath.Join(dir, "pruned2", "last.safetensors"), false)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := m.Describe(1, 28, 28, 4)
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Config(s.Candidates[0]).ModelConfig(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := models.New(cpu.New(), full, 0)
	if err != nil {
		t.Fatal(err)
	}
	frows, _ := fm.Describe(1, 28, 28, 4)
	cut := 1 - float64(r.MACs)/float64(models.Totals(frows).MACs)
	if r.Params != m.NumParams() || r.MACs != models.Totals(rows).MACs || !(cut >= 0.3 && cut <= 0.5) {
		t.Errorf("result params %d, MACs %d (%.1f%% fewer); the fine-tuned pruned model has %d and %d", r.Params, r.MACs, 100*cut, m.NumParams(), models.Totals(rows).MACs)
	}
	if r.PruneRatio != 0.3 || !(r.Top1 > 0) || !(r.UnprunedTop1 > 0) {
		t.Errorf("implausible pruned result %+v", r)
	}
	if strings.Count(log.String(), "(taylor, layer, ratio 0.3)") != 2 {
		t.Errorf("log does not report the pruning:\n%s", log.String())
	}
	log.Reset()
	if _, err := Run(context.Background(), s, Options{Log: &log}); err != nil || strings.Count(log.String(), "skipped") != 1 {
		t.Errorf("re-run: %v\n%s", err, log.String())
	}
	for _, f := range []string{"pruned.safetensors", "pruned2.safetensors", "pruned/last.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
