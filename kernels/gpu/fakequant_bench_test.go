package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// fqBenchDriver opens the driver the fake-quant benchmarks run on: the
// simulator here; a GPU build can point it at a real driver.
var fqBenchDriver = func() (cuda.Driver, error) { return sim.New() }

// fqSimLimit is the most elements one benchmark iteration may touch on the
// simulator before it is skipped (about a second of simulated threads).
const fqSimLimit = 1 << 17

// ConvNeXt V2-Atto shapes at batch 32: stage-0 activations 56×56×40 and their
// 4C expansion (the input of fc2), per tensor; fc1's weight [160, 40] and
// the stage-3 fc2 weight [320, 1280] per output channel.
var (
	fqBenchAct    = kernels.QuantShape{Outer: 1, Channels: 1, Inner: 32 * 56 * 56 * 40, QMin: -128, QMax: 127}
	fqBenchAct4C  = kernels.QuantShape{Outer: 1, Channels: 1, Inner: 32 * 56 * 56 * 160, QMin: -128, QMax: 127}
	fqBenchWeight = kernels.QuantShape{Outer: 1, Channels: 320, Inner: 1280, QMin: -127, QMax: 127}
	fqBenchNHWC   = kernels.QuantShape{Outer: 32 * 7 * 7, Channels: 320, Inner: 1, QMin: -128, QMax: 127}
)

type fqBench struct {
	b   *testing.B
	drv cuda.Driver
	g   *Backend
	s   kernels.QuantShape
}

func newFQBench(b *testing.B, s kernels.QuantShape) *fqBench {
	b.Helper()
	drv, err := fqBenchDriver()
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
	if drv.Name() != "cuda" && s.Len() > fqSimLimit {
		b.Skipf("%d elements take seconds per iteration on the simulator (limit %d); run on a GPU", s.Len(), fqSimLimit)
	}
	return &fqBench{b: b, drv: drv, g: g, s: s}
}

func (e *fqBench) tensor(s kernels.Shape, lo, hi float64) kernels.Tensor {
	rng := testutil.NewRand(1)
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
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

// run times fn, syncing every iteration, and reports GB/s for bytes per
// call.
func (e *fqBench) run(bytes int64, fn func() error) {
	e.b.SetBytes(bytes)
	e.b.ResetTimer()
	for range e.b.N {
		if err := fn(); err != nil {
			e.b.Fatal(err)
		}
		if err := e.g.Sync(); err != nil {
			e.b.Fatal(err)
		}
	}
}

func benchFakeQuant(b *testing.B, s kernels.QuantShape) {
	e := newFQBench(b, s)
	x := e.tensor(s.XShape(), -3, 3)
	y := e.tensor(s.XShape(), 0, 0)
	sc, zp := e.tensor(s.CShape(), 0.02, 0.03), e.tensor(s.CShape(), 0, 0)
	e.run(8*int64(s.Len()), func() error { return e.g.FakeQuant(y, x, sc, zp, s) })
}

func benchFakeQuantLSQ(b *testing.B, s kernels.QuantShape) {
	e := newFQBench(b, s)
	x, dy := e.tensor(s.XShape(), -3, 3), e.tensor(s.XShape(), -1, 1)
	dx := e.tensor(s.XShape(), 0, 0)
	sc, zp := e.tensor(s.CShape(), 0.02, 0.03), e.tensor(s.CShape(), 0, 0)
	ds := e.tensor(s.CShape(), 0, 0)
	e.run(12*int64(s.Len()), func() error { return e.g.FakeQuantBackward(dx, ds, kernels.Tensor{}, dy, x, sc, zp, s, 1e-3) })
}

func benchMinMax(b *testing.B, s kernels.QuantShape) {
	e := newFQBench(b, s)
	x := e.tensor(s.XShape(), -3, 3)
	mn, mx := e.tensor(s.CShape(), 0, 0), e.tensor(s.CShape(), 0, 0)
	e.run(4*int64(s.Len()), func() error { return e.g.MinMax(mn, mx, x, s) })
}

func BenchmarkFakeQuantAct(b *testing.B)         { benchFakeQuant(b, fqBenchAct) }
func BenchmarkFakeQuantAct4C(b *testing.B)       { benchFakeQuant(b, fqBenchAct4C) }
func BenchmarkFakeQuantWeight(b *testing.B)      { benchFakeQuant(b, fqBenchWeight) }
func BenchmarkFakeQuantBackwardAct(b *testing.B) { benchFakeQuantLSQ(b, fqBenchAct) }
func BenchmarkFakeQuantBackwardLSQWeight(b *testing.B) {
	benchFakeQuantLSQ(b, fqBenchWeight)
}
func BenchmarkFakeQuantBackwardLSQNHWC(b *testing.B) { benchFakeQuantLSQ(b, fqBenchNHWC) }
func BenchmarkMinMaxAct(b *testing.B)                { benchMinMax(b, fqBenchAct) }
func BenchmarkMinMaxWeight(b *testing.B)             { benchMinMax(b, fqBenchWeight) }
func BenchmarkMinMaxNHWC(b *testing.B)               { benchMinMax(b, fqBenchNHWC) }

// BenchmarkFakeQuantSmall is the harness check that runs on the simulator:
// per-tensor fake quant of stage 3's 7×7×320 activations at batch 1.
func BenchmarkFakeQuantSmall(b *testing.B) {
	benchFakeQuant(b, kernels.QuantShape{Outer: 1, Channels: 1, Inner: 7 * 7 * 320, QMin: -128, QMax: 127})
}
