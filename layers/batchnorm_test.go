package layers

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestGoldenBatchNorm2d runs PyTorch's nn.BatchNorm2d case
// (scripts/golden/batchnorm.py) on both CPU backends: two training steps
// (output, dx, weight and bias gradients, running statistics and
// num_batches_tracked after each; the second input has channel means of
// 100 to 500 with a spread of 0.5, so an unstable one-pass variance would
// show) and one evaluation step on N·H·W = 6 rows. The float32 gradients
// of the offset step are held to 1e-3: its saved float32 mean (as
// PyTorch's float32 save_mean) is off by up to half an ulp of 500, 3e-5,
// which is 6e-5 of the spread and shifts every x̂ alike, and dweight sums
// terms of both signs.
func TestGoldenBatchNorm2d(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", "batchnorm2d.safetensors"))
	n, h, w, c := g.Int(t, "N"), g.Int(t, "H"), g.Int(t, "W"), g.Int(t, "C")
	for _, tc := range []struct {
		be        *cpu.Backend
		fwd, grad float64 // rtol of outputs and running statistics, of gradients
	}{{cpu.New(), 1e-5, 1e-4}, {cpu.New64(), 1e-6, 1e-6}} {
		t.Run(tc.be.Name(), func(t *testing.T) {
			be := tc.be
			l := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn1", c, DefaultBNEps, DefaultBNMomentum))
			testutil.Upload(t, be, l.Weight.Value, g.Tensor(t, "weight", c))
			testutil.Upload(t, be, l.Bias.Value, g.Tensor(t, "bias", c))
			testutil.Upload(t, be, l.RunningMean.Value, g.Tensor(t, "running_mean0", c))
			testutil.Upload(t, be, l.RunningVar.Value, g.Tensor(t, "running_var0", c))
			for step, shape := range []kernels.Shape{{n, h, w, c}, {n, h, w, c}, {2, 3, 1, c}} {
				k := string(rune('1' + step))
				SetTraining(l, step < 2)
				x := mustAlloc(t, be, shape)
				testutil.Upload(t, be, x, g.Tensor(t, "x"+k, shape...))
				y := must[kernels.Tensor](t)(l.Forward(x))
				testutil.AllClose(t, "y"+k, testutil.Download(t, be, y), g.Tensor(t, "y"+k, shape...), tc.fwd, 1e-6)
				if step < 2 {
					testutil.AllClose(t, "running_mean"+k, testutil.Download(t, be, l.RunningMean.Value), g.Tensor(t, "running_mean"+k, c), tc.fwd, 1e-6)
					testutil.AllClose(t, "running_var"+k, testutil.Download(t, be, l.RunningVar.Value), g.Tensor(t, "running_var"+k, c), tc.fwd, 1e-6)
					testutil.AllClose(t, "nbt"+k, testutil.Download(t, be, l.NumBatchesTracked.Value), g.Tensor(t, "nbt"+k, 1), 0, 0)
				}
				dy := mustAlloc(t, be, shape)
				testutil.Upload(t, be, dy, g.Tensor(t, "dy"+k, shape...))
				for _, p := range l.Params() {
					if err := be.Zero(p.Grad); err != nil {
						t.Fatal(err)
					}
				}
				dx := must[kernels.Tensor](t)(l.Backward(dy))
				rtol := tc.grad
				if step == 1 && be.DType() == kernels.Float32 {
					rtol = 1e-3
				}
				testutil.AllClose(t, "dx"+k, testutil.Download(t, be, dx), g.Tensor(t, "dx"+k, shape...), rtol, 1e-6)
				testutil.AllClose(t, "dweight"+k, testutil.Download(t, be, l.Weight.Grad), g.Tensor(t, "dweight"+k, c), rtol, 1e-6)
				testutil.AllClose(t, "dbias"+k, testutil.Download(t, be, l.Bias.Grad), g.Tensor(t, "dbias"+k, c), rtol, 1e-6)
			}
			// Evaluation leaves the running statistics alone.
			testutil.AllClose(t, "running_var after eval", testutil.Download(t, be, l.RunningVar.Value), g.Tensor(t, "running_var2", c), tc.fwd, 1e-6)
			testutil.AllClose(t, "nbt after eval", testutil.Download(t, be, l.NumBatchesTracked.Value), g.Tensor(t, "nbt2", 1), 0, 0)
		})
	}
}

// TestBatchNorm2dEvalGradients checks the evaluation-mode backward (the
// affine map of the running statistics) by finite differences, with
// random running statistics, on a single row (N·H·W = 1, which training
// refuses) and on an odd shape.
func TestBatchNorm2dEvalGradients(t *testing.T) {
	be := cpu.New64()
	rng := testutil.NewRand(7)
	for _, x := range []kernels.Shape{{1, 1, 1, 3}, {2, 3, 1, 3}} {
		l := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn_eval", 3, 1e-3, 0.3))
		copy(l.RunningMean.Value.Host64(), testutil.Rand64(rng, 3, 1))
		for i, v := range testutil.Rand64(rng, 3, 1) {
			l.RunningVar.Value.Host64()[i] = 0.5 + v*v
		}
		l.SetTraining(false)
		gradCheck(t, be, l, x, rng)
	}
}

// TestBatchNorm2dDefaults checks PyTorch's initial state (weight 1, bias 0,
// running mean 0, running variance 1, count 0), the state-dict names and
// that a training forward with a custom momentum moves the running
// statistics by exactly that momentum.
func TestBatchNorm2dDefaults(t *testing.T) {
	be := cpu.New64()
	l := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "stages.0.bn1", 2, DefaultBNEps, 0.25))
	want := map[string][]float64{"stages.0.bn1.weight": {1, 1}, "stages.0.bn1.bias": {0, 0},
		"stages.0.bn1.running_mean": {0, 0}, "stages.0.bn1.running_var": {1, 1}, "stages.0.bn1.num_batches_tracked": {0}}
	all := append(l.Params(), l.Buffers()...)
	if len(all) != len(want) {
		t.Fatalf("%d tensors, want %d", len(all), len(want))
	}
	for _, p := range all {
		testutil.AllClose(t, p.Name, p.Value.Host64(), want[p.Name], 0, 0)
	}
	for _, p := range l.Buffers() {
		if !p.Grad.Nil() || p.Decay {
			t.Errorf("buffer %s has a gradient or weight decay", p.Name)
		}
	}
	// Channel 0 takes 1, 3 (mean 2, unbiased var 2); channel 1 takes 0, 0.
	x := mustAlloc(t, be, kernels.Shape{2, 1, 1, 2})
	copy(x.Host64(), []float64{1, 0, 3, 0})
	must[kernels.Tensor](t)(l.Forward(x))
	must[kernels.Tensor](t)(l.Forward(x))
	// After two steps: r = 0.75²·r0 + (1 − 0.75²)·batch.
	f := 1 - 0.75*0.75
	testutil.AllClose(t, "running_mean", l.RunningMean.Value.Host64(), []float64{2 * f, 0}, 1e-15, 0)
	testutil.AllClose(t, "running_var", l.RunningVar.Value.Host64(), []float64{0.75*0.75 + 2*f, 0.75 * 0.75}, 1e-15, 0)
	testutil.AllClose(t, "num_batches_tracked", l.NumBatchesTracked.Value.Host64(), []float64{2}, 0, 0)
}

// TestBatchNorm2dErrors checks the errors for invalid configurations, a
// wrong input and a single value per channel in training.
func TestBatchNorm2dErrors(t *testing.T) {
	be := cpu.New()
	for _, bad := range []struct {
		c             int
		eps, momentum float64
	}{{0, 1e-5, 0.1}, {3, -1, 0.1}, {3, math.NaN(), 0.1}, {3, 1e-5, 1.5}, {3, 1e-5, math.NaN()}} {
		if _, err := NewBatchNorm2d(be, "bn", bad.c, bad.eps, bad.momentum); !errors.Is(err, kernels.ErrShape) {
			t.Errorf("NewBatchNorm2d(%d, %v, %v): %v, want ErrShape", bad.c, bad.eps, bad.momentum, err)
		}
	}
	l := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "stages.1.bn", 3, DefaultBNEps, DefaultBNMomentum))
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{2, 2, 2, 4})); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("4 channels into a 3-channel BatchNorm2d: %v", err)
	}
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{1, 1, 1, 3})); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("training on one value per channel: %v, want ErrShape", err)
	}
	l.SetTraining(false)
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{1, 1, 1, 3})); err != nil {
		t.Errorf("evaluation on one value per channel: %v", err)
	}
}

// TestBatchNorm2dNaN checks that a NaN input gives NaN in its channel's
// output (training and evaluation) and leaves other channels finite,
// without an error.
func TestBatchNorm2dNaN(t *testing.T) {
	be := cpu.New()
	l := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn", 2, DefaultBNEps, DefaultBNMomentum))
	x := mustAlloc(t, be, kernels.Shape{2, 1, 1, 2})
	copy(x.Host32(), []float32{float32(math.NaN()), 1, 2, 3})
	for _, training := range []bool{false, true} { // evaluation first: training poisons the running statistics
		l.SetTraining(training)
		y := must[kernels.Tensor](t)(l.Forward(x)).Host32()
		// Channel 0 is y[0], y[2]: in training its batch statistics are
		// NaN, so both are; in evaluation only the NaN element's output.
		nan := []bool{true, false, training, false}
		for i, v := range y {
			if math.IsNaN(float64(v)) != nan[i] {
				t.Errorf("training=%v: y = %v, want NaN at %v", training, y, nan)
			}
		}
	}
}

// TestDescribeBatchNormActivation checks the profiler rows: BatchNorm2d
// holds its output and two statistics per channel, an activation its
// output under the kind's name; neither counts MACs.
func TestDescribeBatchNormActivation(t *testing.T) {
	be := cpu.New()
	bn := must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn", 5, DefaultBNEps, DefaultBNMomentum))
	act := must[*Activation](t)(NewActivation(be, "act", kernels.Hardswish))
	in := kernels.Shape{2, 3, 4, 5}
	got := must[Info](t)(Describe(bn, in))
	if got.Kind != "BatchNorm2d" || !got.Out.Equal(in) || got.MACs != 0 || got.Saved != 120+10 {
		t.Errorf("BatchNorm2d: %+v", got)
	}
	got = must[Info](t)(Describe(act, in))
	if got.Kind != "Hardswish" || !got.Out.Equal(in) || got.MACs != 0 || got.Saved != 120 {
		t.Errorf("Hardswish: %+v", got)
	}
	if _, err := Describe(bn, kernels.Shape{2, 3, 4, 6}); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("6 channels into a 5-channel BatchNorm2d: %v", err)
	}
}
