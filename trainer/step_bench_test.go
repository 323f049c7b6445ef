package trainer

import (
	"io"
	"testing"

	"github.com/nextconv/nextconv/cuda/record"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// BenchmarkStepAllocs measures the host side of a steady-state training
// step of ConvNeXt V2-Atto (28×28, batch 8, AdamW with a learning rate that
// changes every step, EMA) on the CUDA backend over a recording driver
// that runs nothing: the batch upload and the device step, replayed as a
// CUDA graph ("graph", the default on CUDA) or queued launch by launch
// ("eager"). It reports Go heap allocations per step (the figure the
// README quotes) and the launches each step queues.
func BenchmarkStepAllocs(b *testing.B) {
	for _, graphs := range []bool{true, false} {
		name := map[bool]string{true: "graph", false: "eager"}[graphs]
		b.Run(name, func(b *testing.B) {
			drv := record.New()
			t := benchTrainer(b, drv, graphs)
			x, tgt := make([]float32, 8*28*28), make([]float32, 8*10)
			step := func() {
				xd, err := t.upload(&t.x, kernels.Shape{8, 28, 28, 1}, x)
				if err == nil {
					var td kernels.Tensor
					td, err = t.upload(&t.tgt, kernels.Shape{8, 10}, tgt)
					if err == nil && t.graph != nil {
						err = t.graph.run(t, xd, td, t.sched.At(t.state.Step))
					} else if err == nil {
						err = t.deviceStep(xd, td, t.sched.At(t.state.Step), true, true)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				t.state.Step++
			}
			for range 3 { // eager, capture, first replay: allocations settle
				step()
			}
			launches := drv.Launches
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(drv.Launches-launches)/float64(b.N), "launches/step")
		})
	}
}

// benchTrainer builds the parts of a Trainer that a step uses, on the CUDA
// backend over drv.
func benchTrainer(b *testing.B, drv *record.Driver, graphs bool) *Trainer {
	be, err := gpu.New(drv)
	if err != nil {
		b.Fatal(err)
	}
	be.SyncEach = false
	cfg := Default()
	cfg.Model.StemPatch, cfg.Train.CUDAGraphs = 2, graphs
	mc, err := cfg.ModelConfig(1, 10)
	if err != nil {
		b.Fatal(err)
	}
	t := &Trainer{cfg: cfg, be: be, loss: layers.NewCrossEntropy(be), log: &Logger{out: io.Discard}}
	if t.model, err = models.New(be, mc, 1); err != nil {
		b.Fatal(err)
	}
	if t.opt, err = optim.New(be, t.model.Arena, cfg.Optim.Config, nil); err != nil {
		b.Fatal(err)
	}
	if t.ema, err = optim.NewEMA(be, t.model.Arena, 0.999); err != nil {
		b.Fatal(err)
	}
	t.sched = optim.Cosine{Base: 4e-3, Min: 1e-6, Warmup: 10, Total: 1 << 30}
	t.model.SetTraining(true)
	t.graph = newStepGraph(t)
	return t
}
