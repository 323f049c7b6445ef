package trainer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// e2eSteps and e2eMinTop1 define the end-to-end check: the shipped
// configs/fashion_mnist.toml, cut to e2eSteps steps (the cosine schedule
// follows the shorter run), must reach e2eMinTop1 test top-1 on the full
// Fashion-MNIST test set.
const (
	e2eSteps   = 300
	e2eMinTop1 = 82.0
)

// TestEndToEnd trains the shipped Fashion-MNIST configuration for a few
// hundred steps on the CPU backend and checks the accuracy. It takes
// minutes, so it runs only with NEXTCONV_E2E=1 (scripts/test.sh sets it).
func TestEndToEnd(t *testing.T) {
	if os.Getenv("NEXTCONV_E2E") != "1" {
		t.Skip("set NEXTCONV_E2E=1 to run the end-to-end Fashion-MNIST training run (minutes)")
	}
	c, err := Load(filepath.Join("..", "configs", "fashion_mnist.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Train.MaxSteps, c.Train.OutDir, c.Train.LogEvery = e2eSteps, t.TempDir(), 50
	tr, err := New(context.Background(), c, cpu.New(), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("e2e: %d steps in %.0f s (%.1f img/s): test top-1 %.2f%%, top-5 %.2f%%", res.Steps, res.Seconds,
		float64(res.Steps*c.Train.BatchSize)/res.Seconds, res.Top1, res.Top5)
	if res.Top1 < e2eMinTop1 {
		t.Errorf("test top-1 %.2f%% after %d steps, want at least %.0f%%", res.Top1, res.Steps, e2eMinTop1)
	}
}

// testWriter sends the trainer's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
