package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// accumTrainer is the part of a Trainer that microStep and update use: a
// two-stage ConvNeXt V2 (GRN on, no drop path) on be, AdamW with gradient
// clipping that bites, and an EMA, for train.update_freq = freq.
func accumTrainer(t *testing.T, be kernels.Backend, freq int) *Trainer {
	t.Helper()
	c := Default()
	c.Train.UpdateFreq = freq
	c.Optim.ClipGrad = 0.05
	mc := models.Config{Name: "accum", Depths: []int{1, 2}, Dims: []int{8, 16}, InChans: 3, NumClasses: 5,
		StemPatch: 2, Kernel: 3, MLPRatio: 4, GRN: true, HeadInitScale: 1, Eps: 1e-6, InputSize: 8}
	m, err := models.New(be, mc, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trainer{cfg: c, be: be, model: m, loss: layers.NewCrossEntropy(be),
		sched: optim.Cosine{Base: 1e-2, Min: 1e-4, Total: 4}}
	if tr.opt, err = optim.New(be, m.Arena, c.Optim.Config, nil); err != nil {
		t.Fatal(err)
	}
	if tr.ema, err = optim.NewEMA(be, m.Arena, 0.5); err != nil {
		t.Fatal(err)
	}
	m.SetTraining(true)
	return tr
}

// TestAccumulationEqualsLargeBatch runs two optimizer steps on the float64
// CPU backend twice: once on batches of 12 images, once with update_freq 4
// on micro-batches of 3 taken from the same images. LayerNorm and GRN are
// per-sample and there is no mixup or drop path, so the accumulated
// gradients must equal the large batch's (the mean loss over all 12
// samples), and so must the clipped AdamW update and the EMA, up to float64
// rounding (1e-12 relative). The second step checks that a step starts from
// zeroed gradients.
func TestAccumulationEqualsLargeBatch(t *testing.T) {
	const micro, freq, h, w, c, k = 3, 4, 8, 8, 3, 5
	be := cpu.New64()
	large, accum := accumTrainer(t, be, 1), accumTrainer(t, be, freq)
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 2 {
		n := micro * freq
		b := &datasets.Batch{Images: make([]float32, n*h*w*c), Labels: make([]int, n), N: n, H: h, W: w, C: c}
		for i := range b.Images {
			b.Images[i] = float32(rng.NormFloat64())
		}
		for i := range b.Labels {
			b.Labels[i] = rng.IntN(k)
		}
		targets, err := layers.SmoothedTargets(b.Labels, k, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if err := large.microStep(upload(t, be, b, targets)); err != nil {
			t.Fatal(err)
		}
		large.state.Step = step
		for j := range freq {
			sz := micro * h * w * c
			mb := &datasets.Batch{Images: b.Images[j*sz : (j+1)*sz], Labels: b.Labels[j*micro : (j+1)*micro], N: micro, H: h, W: w, C: c}
			x, tgt, _ := upload(t, be, mb, targets[j*micro*k:(j+1)*micro*k])
			if err := accum.microStep(x, tgt, j == 0); err != nil {
				t.Fatal(err)
			}
		}
		accum.state.Step = step
		compare(t, step, "gradients", accum.model.Arena.Grads.Host64(), large.model.Arena.Grads.Host64())
		for _, tr := range []*Trainer{large, accum} {
			if err := tr.update(tr.sched.At(step)); err != nil {
				t.Fatal(err)
			}
		}
		compare(t, step, "weights", accum.model.Arena.Values.Host64(), large.model.Arena.Values.Host64())
		compare(t, step, "EMA", accum.ema.Weights().Host64(), large.ema.Weights().Host64())
	}
	mean, err := layers.MeanLoss(be, large.lossSum)
	if err != nil {
		t.Fatal(err)
	}
	got, err := layers.MeanLoss(be, accum.lossSum)
	if err != nil {
		t.Fatal(err)
	}
	// logTrain divides by the micro-batches summed: both give the mean over
	// the 24 samples (MeanLoss reads float32: 1e-6 relative).
	mean /= float64(large.logged)
	got /= float64(accum.logged)
	if accum.logged != 2*freq || math.Abs(got-mean) > 1e-6*mean {
		t.Errorf("logged loss: %d micro-batches with mean %v, want %d with mean %v", accum.logged, got, 2*freq, mean)
	}
}

// upload returns b's images [N, H, W, C] and targets [N, K] on be, and
// true: the whole batch is the first micro-batch of its step.
func upload(t *testing.T, be kernels.Backend, b *datasets.Batch, targets []float32) (x, tgt kernels.Tensor, first bool) {
	t.Helper()
	x, err := be.Alloc(kernels.Shape{b.N, b.H, b.W, b.C})
	if err == nil {
		err = be.Upload(x, b.Images)
	}
	if err == nil {
		tgt, err = be.Alloc(kernels.Shape{b.N, len(targets) / b.N})
	}
	if err == nil {
		err = be.Upload(tgt, targets)
	}
	if err != nil {
		t.Fatal(err)
	}
	return x, tgt, true
}

// compare requires got to equal want within 1e-12 of want's largest
// magnitude, which must not be 0 (a vacuous comparison).
func compare(t *testing.T, step int, what string, got, want []float64) {
	t.Helper()
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = max(scale, math.Abs(want[i]))
		worst = max(worst, math.Abs(got[i]-want[i]))
	}
	if len(got) != len(want) || scale == 0 || worst > 1e-12*scale {
		t.Errorf("step %d: %s of 4 accumulated micro-batches differ from one batch 4 times larger by up to %g (largest %g, %d/%d values)",
			step+1, what, worst, scale, len(got), len(want))
	} else {
		t.Logf("step %d: %s differ by up to %.3g (largest %.3g)", step+1, what, worst, scale)
	}
}

// TestAccumulationRunCountsOptimizerSteps trains 4 optimizer steps with
// update_freq 2 on Fashion-MNIST (mixup, cutmix and drop path on, drawn per
// micro-batch): the run must read 8 micro-batches, count its steps, logs and
// checkpoints in optimizer steps, and resume bit for bit both from a stop
// after step 2 and from a bad label in the second micro-batch of step 2
// (saved at step 1 with the generators as step 2 found them).
func TestAccumulationRunCountsOptimizerSteps(t *testing.T) {
	accumConfig := func() Config {
		c := quickConfig(t, 4)
		c.Train.UpdateFreq, c.Data.Workers = 2, 1
		return c
	}
	whole := accumConfig()
	tr, err := New(context.Background(), whole, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(context.Background())
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st := tr.State(); res.Steps != 4 || st.Step != 4 || st.Loader != (datasets.State{Step: 8}) {
		t.Errorf("after 4 steps of 2 micro-batches: %d steps, state %+v; want 4 steps and loader at batch 8", res.Steps, st)
	}
	if want := 60000 / 32; tr.perEpoch != want {
		t.Errorf("%d optimizer steps per epoch, want %d", tr.perEpoch, want)
	}
	var steps []int
	for _, rec := range readMetrics(t, filepath.Join(whole.Train.OutDir, metricsFile)) {
		if rec["kind"] == "train" {
			steps = append(steps, int(rec["step"].(float64)))
		}
	}
	if !slices.Equal(steps, []int{2, 4}) {
		t.Errorf("train records at steps %v, want [2 4] (log_every 2 optimizer steps)", steps)
	}
	want := readState(t, filepath.Join(whole.Train.OutDir, "last.safetensors"))
	resumed := func(how string, split Config) {
		split.Train.Resume = true
		if err := run(t, split, 0); err != nil {
			t.Fatal(err)
		}
		got := readState(t, filepath.Join(split.Train.OutDir, "last.safetensors"))
		for name, w := range want {
			if !bytes.Equal(f32bytes(got[name]), f32bytes(w)) {
				t.Fatalf("%s differs after %s and resuming", name, how)
			}
		}
	}
	split := accumConfig()
	if err := run(t, split, 2); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopping after 2 steps: %v", err)
	}
	resumed("stopping at step 2", split)

	bad := accumConfig()
	tr, err = New(context.Background(), bad, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.data.Train = &faultyDataset{Dataset: tr.data.Train, ok: 3 * 16, badLabel: true} // the 4th micro-batch
	_, err = tr.Run(context.Background())
	tr.Close()
	if err == nil || !strings.Contains(err.Error(), "label 10 of sample") {
		t.Fatalf("bad label in step 2's second micro-batch: %v", err)
	}
	if st := storedState(t, filepath.Join(bad.Train.OutDir, "last.safetensors")); st.Step != 1 || st.Loader != (datasets.State{Step: 2}) {
		t.Errorf("saved after the bad label at step %d, loader %+v; want step 1, loader at batch 2", st.Step, st.Loader)
	}
	resumed("a bad label in the middle of step 2", bad)
}

func readMetrics(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, rec)
	}
	return recs
}
