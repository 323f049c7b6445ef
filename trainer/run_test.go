package trainer

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// quickConfig is a small real run on Fashion-MNIST: atto with the 2×2 stem,
// batch 16, every random component on (augmentation, mixup/cutmix, drop
// path, EMA), evaluated on 200 test images.
func quickConfig(t *testing.T, steps int) Config {
	t.Helper()
	if _, err := os.Stat(filepath.Join(datasets.DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed at %s (apt-get install dataset-fashion-mnist): %v", datasets.DefaultFashionMNISTDir, err)
	}
	c := Default()
	c.Model.StemPatch, c.Model.DropPath = 2, 0.1
	c.Data.RandAugment, c.Data.RandomErasing, c.Data.CropPadding, c.Data.EvalImages = "rand-m9-mstd0.5-inc1", 0.25, 2, 200
	c.Train.BatchSize, c.Train.MaxSteps, c.Train.LogEvery, c.Train.Seed = 16, steps, 2, 7
	c.Train.OutDir = t.TempDir()
	c.Mixup = MixupConfig{MixupAlpha: 0.8, CutmixAlpha: 1, Prob: 1, SwitchProb: 0.5}
	c.EMA.Decay = 0.9
	c.Optim.WarmupSteps = 2
	return c
}

func run(t *testing.T, c Config, stopAfter int) error {
	t.Helper()
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if stopAfter > 0 {
		tr.StopAfter(stopAfter)
	}
	_, err = tr.Run(context.Background())
	return err
}

func readState(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	ts, _, err := models.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]float32{}
	for _, x := range ts {
		m[x.Name] = x.Data
	}
	return m
}

// TestResumeIsBitIdentical stops a run after 3 of 6 steps, resumes it, and
// requires every saved tensor (weights, AdamW moments, EMA) to equal the
// uninterrupted run's bit for bit, in fp32 and in the bf16 emulation (whose
// bf16 weight copy a resume rebuilds from the float32 checkpoint).
func TestResumeIsBitIdentical(t *testing.T) {
	for _, prec := range []string{"fp32", "bf16"} {
		t.Run(prec, func(t *testing.T) { testResumeIsBitIdentical(t, func(c *Config) { c.Train.Precision = prec }) })
	}
}

// testResumeIsBitIdentical is TestResumeIsBitIdentical on quickConfig
// changed by edit.
func testResumeIsBitIdentical(t *testing.T, edit func(*Config)) {
	whole := quickConfig(t, 6)
	edit(&whole)
	if err := run(t, whole, 0); err != nil {
		t.Fatal(err)
	}
	split := quickConfig(t, 6)
	edit(&split)
	if err := run(t, split, 3); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopping after 3 steps: %v", err)
	}
	mid := readState(t, filepath.Join(split.Train.OutDir, "last.safetensors"))
	split.Train.Resume = true
	if err := run(t, split, 0); err != nil {
		t.Fatal(err)
	}
	want := readState(t, filepath.Join(whole.Train.OutDir, "last.safetensors"))
	got := readState(t, filepath.Join(split.Train.OutDir, "last.safetensors"))
	if len(got) != len(want) || len(want) < 100 {
		t.Fatalf("%d tensors after resuming, %d uninterrupted", len(got), len(want))
	}
	changed := false
	for name, w := range want {
		g := got[name]
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s[%d] = %v after resume, %v uninterrupted", name, i, g[i], w[i])
			}
		}
		if m := mid[name]; !changed && m != nil && !bytes.Equal(f32bytes(m), f32bytes(w)) {
			changed = true
		}
	}
	if !changed {
		t.Error("the state after step 3 equals the final one: the test would not notice a resume that trains nothing")
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// TestNonFiniteLossKeepsCheckpoint poisons the weights of a resumed run: the
// run must stop with ErrNonFinite and leave last.safetensors untouched, in
// fp32 and in bf16.
func TestNonFiniteLossKeepsCheckpoint(t *testing.T) {
	for _, prec := range []string{"fp32", "bf16"} {
		t.Run(prec, func(t *testing.T) { testNonFiniteLossKeepsCheckpoint(t, prec) })
	}
}

func testNonFiniteLossKeepsCheckpoint(t *testing.T, prec string) {
	c := quickConfig(t, 4)
	c.Train.Precision = prec
	if err := run(t, c, 2); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first part: %v", err)
	}
	last := filepath.Join(c.Train.OutDir, "last.safetensors")
	before, _ := os.ReadFile(last)
	c.Train.Resume = true
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ps := tr.Model().Arena.Params
	w := ps[len(ps)-1].Value.Host32()
	w[len(w)-1] = float32(math.NaN()) // the head bias: every logit of that class becomes NaN
	_, err = tr.Run(context.Background())
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("got %v, want ErrNonFinite", err)
	}
	after, _ := os.ReadFile(last)
	if !bytes.Equal(before, after) {
		t.Error("a diverged run rewrote last.safetensors")
	}
}

// TestResumeComplete resumes a run that has finished: it trains and saves
// nothing and reports the accuracy of the weights it restored, the same as
// the finished run's last evaluation.
func TestResumeComplete(t *testing.T) {
	c := quickConfig(t, 2)
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	done, err := tr.Run(context.Background())
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(c.Train.OutDir, "last.safetensors")
	before, _ := os.ReadFile(last)
	c.Train.Resume = true
	tr, err = New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	again, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !(done.Top1 > 0) || again.Top1 != done.Top1 || again.Top5 != done.Top5 || again.EMATop1 != done.EMATop1 || again.Steps != 2 {
		t.Errorf("resumed finished run: %+v, want the finished run's %+v", again, done)
	}
	if after, _ := os.ReadFile(last); !bytes.Equal(before, after) {
		t.Error("resuming a finished run rewrote last.safetensors")
	}
}

// TestResumeOtherModel refuses to resume a checkpoint of another model.
func TestResumeOtherModel(t *testing.T) {
	c := quickConfig(t, 4)
	if err := run(t, c, 2); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first part: %v", err)
	}
	c.Train.Resume = true
	c.Model.Variant = "femto"
	_, err := New(context.Background(), c, cpu.New(), nil)
	var ce *models.CheckpointError
	if !errors.As(err, &ce) || len(ce.Mismatched) == 0 {
		t.Fatalf("resuming atto into femto: %v", err)
	}
}

// TestBadData checks that a missing or corrupt dataset gives an error naming
// the file.
func TestBadData(t *testing.T) {
	c := quickConfig(t, 2)
	c.Data.Root = filepath.Join(t.TempDir(), "nowhere")
	if _, err := New(context.Background(), c, cpu.New(), nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("nowhere")) {
		t.Errorf("missing dataset: %v", err)
	}
	dir := t.TempDir()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		os.WriteFile(filepath.Join(dir, f), []byte("\x1f\x8b garbage"), 0o644)
	}
	c.Data.Root = dir
	if _, err := New(context.Background(), c, cpu.New(), nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("train-images")) {
		t.Errorf("corrupt dataset: %v", err)
	}
}

// TestResumeCountsEarlierTime: a resumed run's Result.Seconds and its
// checkpoint's State.Seconds include the wall time of the run it resumed,
// so that a study's training time does not restart at the interruption.
func TestResumeCountsEarlierTime(t *testing.T) {
	c := quickConfig(t, 4)
	if err := run(t, c, 2); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first part: %v", err)
	}
	last := filepath.Join(c.Train.OutDir, "last.safetensors")
	mid := storedState(t, last)
	if !(mid.Seconds > 0) {
		t.Fatalf("the interrupted run's checkpoint records %v s", mid.Seconds)
	}
	c.Train.Resume = true
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	t0 := time.Now()
	res, err := tr.Run(context.Background())
	second := time.Since(t0).Seconds()
	if err != nil {
		t.Fatal(err)
	}
	if res.Seconds < mid.Seconds+0.9*second || res.Seconds > mid.Seconds+second {
		t.Errorf("resumed Result.Seconds %.3f, want the first part %.3f plus this run's %.3f", res.Seconds, mid.Seconds, second)
	}
	if end := storedState(t, last); end.Seconds < mid.Seconds+0.5*second || end.Seconds > res.Seconds {
		t.Errorf("final checkpoint records %.3f s, first part %.3f, whole %.3f", end.Seconds, mid.Seconds, res.Seconds)
	}
}
