package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// miscBench is a CUDA backend for one benchmark, closed when it ends.
type miscBench struct {
	b   *testing.B
	drv cuda.Driver
	g   *Backend
	rng interface{ Float64() float64 }
}

func newMiscBench(b *testing.B) *miscBench {
	b.Helper()
	drv, err := newTestDriver()
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(drv)
	if err != nil {
		drv.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		g.Close()
		drv.Close()
	})
	return &miscBench{b: b, drv: drv, g: g, rng: testutil.NewRand(1)}
}

// onGPU reports whether the benchmark runs on a real GPU.
func (e *miscBench) onGPU() bool { return e.drv.Name() == "cuda" }

// simLimit skips the benchmark on the simulator when it would touch more
// than limit elements per iteration (seconds of simulated threads).
func (e *miscBench) simLimit(elems, limit int) {
	if !e.onGPU() && elems > limit {
		e.b.Skipf("%d elements take seconds per iteration on the simulator (limit %d); run on a GPU", elems, limit)
	}
}

// tensor returns a device tensor of uniform values in [−scale, scale).
func (e *miscBench) tensor(s kernels.Shape, scale float64) kernels.Tensor {
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32((2*e.rng.Float64() - 1) * scale)
	}
	t, err := e.g.Alloc(s)
	if err == nil {
		err = e.g.Upload(t, v)
	}
	if err != nil {
		e.b.Fatal(err)
	}
	return t
}

// run times op, synchronising after every call, and reports the bandwidth
// for bytes moved per call.
func (e *miscBench) run(bytes int64, op func() error) {
	b := e.b
	if err := op(); err != nil { // warm-up: module load, allocator
		b.Fatal(err)
	}
	if err := e.g.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bytes)
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		if err := e.g.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// attoActs are ConvNeXt V2-Atto block activations at batch 32 (224²
// input), NHWC: the four stages at C and at the 4C MLP expansion.
var attoActs = []kernels.Shape{
	{32, 56, 56, 40}, {32, 28, 28, 80}, {32, 14, 14, 160}, {32, 7, 7, 320},
	{32, 56, 56, 160}, {32, 28, 28, 320}, {32, 14, 14, 640}, {32, 7, 7, 1280},
}

// simStreamLimit is the most elements a streaming benchmark touches on the
// simulator (about 0.1 s per call).
const simStreamLimit = 4 << 20

func BenchmarkAdd(b *testing.B) {
	for _, s := range attoActs {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			e := newMiscBench(b)
			e.simLimit(s.Len(), simStreamLimit)
			x, r := e.tensor(s, 1), e.tensor(s, 1)
			e.run(12*int64(s.Len()), func() error { return e.g.Add(x, x, r) })
		})
	}
}

func BenchmarkScale(b *testing.B) {
	for _, s := range attoActs {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			e := newMiscBench(b)
			e.simLimit(s.Len(), simStreamLimit)
			x, y := e.tensor(s, 1), e.tensor(s, 1)
			e.run(8*int64(s.Len()), func() error { return e.g.Scale(y, x, 0.5) })
		})
	}
}

func BenchmarkScaleSamples(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			e := newMiscBench(b)
			e.simLimit(s.Len(), simStreamLimit)
			x, sc := e.tensor(s, 1), e.tensor(kernels.Shape{s[0]}, 1)
			e.run(8*int64(s.Len()), func() error { return e.g.ScaleSamples(x, x, sc) })
		})
	}
}

func BenchmarkChannelScale(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			e := newMiscBench(b)
			e.simLimit(s.Len(), simStreamLimit)
			x, gamma := e.tensor(s, 1), e.tensor(kernels.Shape{s[3]}, 1)
			e.run(8*int64(s.Len()), func() error { return e.g.ChannelScale(x, x, gamma) })
		})
	}
}

func BenchmarkChannelScaleBackward(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			e := newMiscBench(b)
			// Each 256-thread block of partial sums synchronises: about
			// 10 ms per block on the simulator.
			e.simLimit(s.Len(), 1<<20)
			C := kernels.Shape{s[3]}
			x, dy, dx := e.tensor(s, 1), e.tensor(s, 1), e.tensor(s, 1)
			gamma, dgamma := e.tensor(C, 1), e.tensor(C, 1)
			e.run(12*int64(s.Len()), func() error { return e.g.ChannelScaleBackward(dx, dgamma, dy, x, gamma) })
		})
	}
}

// attoParams is the number of parameters of ConvNeXt V2-Atto (3.7M), the
// size of the gradient arena SumSquares and the optimizers walk.
const attoParams = 3708400

func BenchmarkSumSquares(b *testing.B) {
	for _, n := range []int{1 << 18, attoParams} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newMiscBench(b)
			e.simLimit(n, 1<<18) // 64 synchronising blocks
			x := e.tensor(kernels.Shape{n}, 1)
			e.run(4*int64(n), func() error { _, err := e.g.SumSquares(x); return err })
		})
	}
}

func BenchmarkEMA(b *testing.B) {
	e := newMiscBench(b)
	avg, x := e.tensor(kernels.Shape{attoParams}, 1), e.tensor(kernels.Shape{attoParams}, 1)
	e.run(12*attoParams, func() error { return e.g.EMA(avg, x, 0.9998) })
}
