package trainer

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// pipelineConfig is quickConfig with the input pipeline on the backend:
// no random erasing (it works on normalised floats, so it would keep the
// batch on the host), mixup/CutMix and drop path on, small enough for the
// simulator: 32×32 inputs through the 4×4 stem, batch 4, no EMA, 8
// evaluation images.
func pipelineConfig(t *testing.T, steps int) Config {
	c := quickConfig(t, steps)
	c.Data.RandomErasing, c.Data.RandAugment, c.Data.InputSize, c.Model.StemPatch = 0, "", 32, 4
	c.Data.EvalImages = 8
	c.Train.BatchSize, c.Train.EvalBatchSize = 4, 8
	c.Model.DropPath = 0.3
	c.EMA.Decay = 0
	return c
}

// hostInput hides a backend's kernels.InputOps, so the trainer takes the
// host path: float32 batches normalised by the loader, mixed by Mix.Apply
// and uploaded, drop-path masks drawn by philox.KeepMask and uploaded. It
// keeps kernels.MLPOps, so that the model's V2 blocks run the same fused
// MLP kernels on both paths (newHostInput).
type hostInput struct {
	kernels.Backend
	kernels.MLPOps
}

// newHostInput wraps be, which must implement kernels.MLPOps.
func newHostInput(be kernels.Backend) hostInput { return hostInput{be, be.(kernels.MLPOps)} }

// runOn runs c on be until stopAfter (0: to the end) and returns the
// trainer, closed.
func runOn(t *testing.T, c Config, be kernels.Backend, stopAfter int) *Trainer {
	t.Helper()
	tr, err := New(context.Background(), c, be, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if stopAfter > 0 {
		tr.StopAfter(stopAfter)
	}
	if _, err := tr.Run(context.Background()); err != nil && !(stopAfter > 0 && errors.Is(err, ErrInterrupted)) {
		t.Fatal(err)
	}
	return tr
}

func openSim(t *testing.T) kernels.Backend {
	t.Helper()
	be, closeBE, err := OpenBackend("cudasim")
	if err != nil {
		t.Skipf("cudasim: %v", err)
	}
	t.Cleanup(func() {
		if err := closeBE(); err != nil {
			t.Error(err)
		}
	})
	return be
}

// sameTensors requires the checkpoints at two paths to hold the same
// tensors bit for bit.
func sameTensors(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	got, want := readState(t, gotPath), readState(t, wantPath)
	if len(got) != len(want) || len(want) < 100 {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s[%d] = %v, want %v", name, i, g[i], w[i])
			}
		}
	}
}

// TestDevicePipeline trains on the simulated CUDA backend with the input
// pipeline on the device (uint8 batches through the stager and
// normalize_u8_f32, mixing, targets and drop-path masks by kernels) and
// shares its runs between three checks, since simulated steps are slow:
//
//   - two steps equal, bit for bit (weights, moments), the same steps on
//     the host path (hostInput);
//   - stopped after one step, the run drew the same drop-path masks and
//     mixup decisions as a CPU run of the seed (drawAlike);
//   - resumed from that stop, it ends with the uninterrupted run's tensors.
//
// Runs stop (StopAfter) instead of finishing, so no evaluation is simulated.
func TestDevicePipeline(t *testing.T) {
	const steps = 2
	whole := pipelineConfig(t, steps+1)
	runOn(t, whole, openSim(t), steps)
	want := filepath.Join(whole.Train.OutDir, "last.safetensors")

	host := pipelineConfig(t, steps+1)
	runOn(t, host, newHostInput(openSim(t)), steps)
	t.Run("host path", func(t *testing.T) { sameTensors(t, filepath.Join(host.Train.OutDir, "last.safetensors"), want) })

	split := pipelineConfig(t, steps+1)
	dev := runOn(t, split, openSim(t), 1)
	if dev.stager != nil {
		t.Fatal("the run did not close its stager")
	}
	cpuBE, _, _ := OpenBackend("cpu")
	t.Run("CPU draws", func(t *testing.T) { drawAlike(t, runOn(t, pipelineConfig(t, steps+1), cpuBE, 1), dev) })

	split.Train.Resume = true
	runOn(t, split, openSim(t), steps)
	t.Run("resume", func(t *testing.T) { sameTensors(t, filepath.Join(split.Train.OutDir, "last.safetensors"), want) })
}

// drawAlike compares the draws of two runs stopped after the same step: the
// drop-path masks of every block (drop_mask_f32 on the device,
// philox.KeepMask on the CPU), the generators' states and the next mixup
// decision.
func drawAlike(t *testing.T, c, g *Trainer) {
	if *c.model.DropRNG != *g.model.DropRNG || *c.mixup.RNG != *g.mixup.RNG {
		t.Fatalf("generators differ: drop %+v / %+v, mixup %+v / %+v", *c.model.DropRNG, *g.model.DropRNG, *c.mixup.RNG, *g.mixup.RNG)
	}
	dropped, compared := 0, 0
	for i, st := range c.model.Stages {
		for j, b := range st.Blocks {
			mc, err := b.(*layers.Block).DropPath.Mask()
			if err != nil {
				t.Fatal(err)
			}
			mg, err := g.model.Stages[i].Blocks[j].(*layers.Block).DropPath.Mask()
			if err != nil {
				t.Fatal(err)
			}
			if len(mc) != len(mg) {
				t.Fatalf("stage %d block %d: masks of %d and %d samples", i, j, len(mc), len(mg))
			}
			for k := range mc {
				if mc[k] != mg[k] {
					t.Fatalf("stage %d block %d sample %d: CPU factor %v, simulator %v", i, j, k, mc[k], mg[k])
				}
				if mc[k] == 0 {
					dropped++
				}
			}
			if len(mc) > 0 {
				compared++
			}
		}
	}
	if dropped == 0 || compared == 0 {
		t.Errorf("%d masks compared, %d samples dropped: the comparison would not notice masks that ignore the draw", compared, dropped)
	}
	if a, b := c.mixup.Draw(28, 28), g.mixup.Draw(28, 28); a != b {
		t.Errorf("next mixup decision: CPU %+v, simulator %+v", a, b)
	}
}

// TestResumeWithCPUPipeline is TestResumeIsBitIdentical with the input
// pipeline on the CPU backend (uint8 batches through its stager, mixing
// and masks by its InputOps): a run stopped after a step and resumed ends
// with the uninterrupted run's tensors, bit for bit, EMA included.
func TestResumeWithCPUPipeline(t *testing.T) {
	open := func() kernels.Backend { be, _, _ := OpenBackend("cpu"); return be }
	whole := pipelineConfig(t, 3)
	whole.EMA.Decay = 0.9
	runOn(t, whole, open(), 0)
	split := pipelineConfig(t, 3)
	split.EMA.Decay = 0.9
	runOn(t, split, open(), 1)
	split.Train.Resume = true
	runOn(t, split, open(), 0)
	sameTensors(t, filepath.Join(split.Train.OutDir, "last.safetensors"), filepath.Join(whole.Train.OutDir, "last.safetensors"))
}
