package trainer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// e2eSteps, e2eMinTop1 and e2eMaxLoss define the end-to-end check: the
// shipped configs/fashion_mnist.toml, cut to e2eSteps steps (the cosine
// schedule follows the shorter run), must reach e2eMinTop1 test top-1 and a
// test cross-entropy below e2eMaxLoss on the full Fashion-MNIST test set.
const (
	e2eSteps     = 300
	e2eMinTop1   = 82.0
	e2eMaxLoss   = 0.6 // 0.5037 measured (top-1 83.69 %); ln 10 = 2.30 is chance
	e2eTestImage = 10000
)

// TestEndToEnd trains the shipped Fashion-MNIST configuration for a few
// hundred steps on the CPU backend and checks the accuracy, the loss, the
// steps taken and logged, and that the evaluation covered the whole test
// set. It takes minutes, so it runs only with NEXTCONV_E2E=1
// (scripts/test.sh sets it).
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
	if res.Steps != e2eSteps {
		t.Errorf("ran %d steps, want %d", res.Steps, e2eSteps)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	var trainSteps []int
	var last struct {
		Step   int     `json:"step"`
		Images int     `json:"images"`
		Loss   float64 `json:"loss"`
		Top1   float64 `json:"top1"`
	}
	f, err := os.ReadFile(filepath.Join(c.Train.OutDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		var rec struct {
			Kind string  `json:"kind"`
			Step int     `json:"step"`
			Loss float64 `json:"loss"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metrics.jsonl: %v: %s", err, line)
		}
		switch rec.Kind {
		case "train":
			trainSteps = append(trainSteps, rec.Step)
		case "eval":
			json.Unmarshal([]byte(line), &last)
		}
	}
	if want := []int{50, 100, 150, 200, 250, 300}; !slices.Equal(trainSteps, want) {
		t.Errorf("train metrics at steps %v, want %v", trainSteps, want)
	}
	if last.Step != e2eSteps || last.Images != e2eTestImage || last.Top1 != res.Top1 {
		t.Errorf("last eval record at step %d over %d images with top-1 %v; want step %d, %d images, top-1 %v",
			last.Step, last.Images, last.Top1, e2eSteps, e2eTestImage, res.Top1)
	}
	if !(last.Loss > 0 && last.Loss < e2eMaxLoss) {
		t.Errorf("test loss %v, want in (0, %v)", last.Loss, e2eMaxLoss)
	}
}

// testWriter sends the trainer's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestFineTuneFromFiveClasses is the README's fine-tuning experiment, cut
// short: configs/fashion_mnist.toml trained for 300 steps on Fashion-MNIST's
// first five classes, then 100 steps on all ten from that checkpoint (head
// re-initialised) must beat 100 steps from random weights by at least 1.5
// points of test top-1 (first 2000 test images; measured here: 82.35 %
// against 79.85 %). About 18 minutes on the loaded 2-core machine;
// NEXTCONV_E2E=1.
func TestFineTuneFromFiveClasses(t *testing.T) {
	if os.Getenv("NEXTCONV_E2E") != "1" {
		t.Skip("set NEXTCONV_E2E=1 to run the Fashion-MNIST fine-tuning experiment (minutes)")
	}
	load := func(steps int) Config {
		c, err := Load(filepath.Join("..", "configs", "fashion_mnist.toml"))
		if err != nil {
			t.Fatal(err)
		}
		c.Train.MaxSteps, c.Train.OutDir, c.Train.LogEvery, c.Optim.WarmupSteps = steps, t.TempDir(), 50, 50
		return c
	}
	train := func(c Config) Result {
		tr, err := New(context.Background(), c, cpu.New(), testWriter{t})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		res, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	five := load(300)
	five.Data.Classes = 5
	train(five)
	scratch, ft := load(100), load(100)
	scratch.Data.EvalImages, ft.Data.EvalImages = 2000, 2000
	ft.Model.Pretrained = filepath.Join(five.Train.OutDir, "last.safetensors")
	s, f := train(scratch), train(ft)
	t.Logf("after 100 steps on ten classes: from scratch %.2f%%, fine-tuned from five classes %.2f%%", s.Top1, f.Top1)
	if f.Top1 < s.Top1+1.5 {
		t.Errorf("fine-tuned top-1 %.2f%% is not 1.5 points above from-scratch %.2f%%", f.Top1, s.Top1)
	}
}
