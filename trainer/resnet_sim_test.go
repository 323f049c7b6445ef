package trainer

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/internal/testutil/steptest"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestResNetStepOnSimulator runs one training-mode forward and backward of
// resnet50 — its stem with the 3×3/2 max pool, the 3-4-6-3 bottlenecks
// with projection shortcuts, BatchNorm on batch statistics — at a quarter
// of its widths, 5 classes and a batch of two 65×67 images (the last stage
// 3×3: at 1×1 a BatchNorm over two values has an input gradient of exactly
// 0, and the backends would compare rounding noise) on the simulated CUDA
// backend and on the CPU.
//
// The reference is the CPU backend in float64: sixteen blocks of
// BatchNorm over a batch of two amplify rounding, so that the float32 CPU
// itself lands up to 1e-2 (relative L2) from it on some gradients while
// the simulator stays within 1e-3 (3e-4 measured). The test requires the
// simulator's logits within 1e-4 of the float32 CPU's, every parameter
// gradient within 1e-3 relative L2 of the float64 CPU's, and the BatchNorm
// running statistics within 1e-4.
func TestResNetStepOnSimulator(t *testing.T) {
	sim, closeSim, err := OpenBackend("cudasim")
	if err != nil {
		t.Skipf("cudasim: %v", err)
	}
	defer closeSim()
	c, err := models.Variant("resnet50")
	if err != nil {
		t.Fatal(err)
	}
	stem := *c.Stem
	stem.Dim /= 4
	c.Stem, c.Stages, c.NumClasses = &stem, slices.Clone(c.Stages), 5
	for i := range c.Stages {
		c.Stages[i].Dim /= 4
	}
	c = c.Resolved()
	const h = 65
	logits32, _, _ := hybridStep(t, cpu.New(), c, h)
	_, wantGrads, wantBufs := hybridStep(t, cpu.New64(), c, h)
	gotLogits, gotGrads, gotBufs := hybridStep(t, sim, c, h)
	testutil.AllClose(t, "logits", gotLogits, logits32, 1e-4, 1e-5)
	m, err := models.New(cpu.New(), c, 3)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, p := range m.Params() {
		e := steptest.RelL2(gotGrads[i], wantGrads[i])
		worst = max(worst, e)
		if e > 1e-3 {
			t.Errorf("grad %s: relative L2 error %.3g, want <= 1e-3", p.Name, e)
		}
	}
	t.Logf("%d gradients, worst relative L2 error %.3g", len(gotGrads), worst)
	if len(wantBufs) == 0 || len(gotBufs) != len(wantBufs) {
		t.Fatalf("%d BatchNorm buffers on the simulator, %d on the CPU", len(gotBufs), len(wantBufs))
	}
	for i := range wantBufs {
		testutil.AllClose(t, fmt.Sprintf("buffer %d", i), gotBufs[i], wantBufs[i], 1e-4, 1e-6)
	}
}
