package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

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

func benchFakeQuant(b *testing.B, s kernels.QuantShape) {
	h := newBench(b)
	h.simLimit(float64(s.Len()), fqSimLimit, "elements")
	x := h.uniform(s.XShape(), -3, 3)
	y := h.uniform(s.XShape(), 0, 0)
	sc, zp := h.uniform(s.CShape(), 0.02, 0.03), h.uniform(s.CShape(), 0, 0)
	h.run(8*int64(s.Len()), func() error { return h.g.FakeQuant(y, x, sc, zp, s) })
}

func benchFakeQuantLSQ(b *testing.B, s kernels.QuantShape) {
	h := newBench(b)
	h.simLimit(float64(s.Len()), fqSimLimit, "elements")
	x, dy := h.uniform(s.XShape(), -3, 3), h.uniform(s.XShape(), -1, 1)
	dx := h.uniform(s.XShape(), 0, 0)
	sc, zp := h.uniform(s.CShape(), 0.02, 0.03), h.uniform(s.CShape(), 0, 0)
	ds := h.uniform(s.CShape(), 0, 0)
	h.run(12*int64(s.Len()), func() error { return h.g.FakeQuantBackward(dx, ds, kernels.Tensor{}, dy, x, sc, zp, s, 1e-3) })
}

func benchMinMax(b *testing.B, s kernels.QuantShape) {
	h := newBench(b)
	h.simLimit(float64(s.Len()), fqSimLimit, "elements")
	x := h.uniform(s.XShape(), -3, 3)
	mn, mx := h.uniform(s.CShape(), 0, 0), h.uniform(s.CShape(), 0, 0)
	h.run(4*int64(s.Len()), func() error { return h.g.MinMax(mn, mx, x, s) })
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
