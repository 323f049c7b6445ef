package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

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
			h := newBench(b)
			h.simLimit(float64(s.Len()), simStreamLimit, "elements")
			x, r := h.rand(s, 1), h.rand(s, 1)
			h.runGBps(12*int64(s.Len()), func() error { return h.g.Add(x, x, r) })
		})
	}
}

func BenchmarkScale(b *testing.B) {
	for _, s := range attoActs {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(float64(s.Len()), simStreamLimit, "elements")
			x, y := h.rand(s, 1), h.rand(s, 1)
			h.runGBps(8*int64(s.Len()), func() error { return h.g.Scale(y, x, 0.5) })
		})
	}
}

func BenchmarkScaleSamples(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(float64(s.Len()), simStreamLimit, "elements")
			x, sc := h.rand(s, 1), h.rand(kernels.Shape{s[0]}, 1)
			h.runGBps(8*int64(s.Len()), func() error { return h.g.ScaleSamples(x, x, sc) })
		})
	}
}

func BenchmarkChannelScale(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(float64(s.Len()), simStreamLimit, "elements")
			x, gamma := h.rand(s, 1), h.rand(kernels.Shape{s[3]}, 1)
			h.runGBps(8*int64(s.Len()), func() error { return h.g.ChannelScale(x, x, gamma) })
		})
	}
}

func BenchmarkChannelScaleBackward(b *testing.B) {
	for _, s := range attoActs[:4] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			h := newBench(b)
			// Each 256-thread block of partial sums synchronises: about
			// 10 ms per block on the simulator.
			h.simLimit(float64(s.Len()), 1<<20, "elements")
			C := kernels.Shape{s[3]}
			x, dy, dx := h.rand(s, 1), h.rand(s, 1), h.rand(s, 1)
			gamma, dgamma := h.rand(C, 1), h.rand(C, 1)
			h.runGBps(12*int64(s.Len()), func() error { return h.g.ChannelScaleBackward(dx, dgamma, dy, x, gamma) })
		})
	}
}

func BenchmarkSumSquares(b *testing.B) {
	for _, n := range []int{1 << 18, attoParams} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(float64(n), 1<<18, "elements") // 64 synchronising blocks
			x := h.rand(kernels.Shape{n}, 1)
			h.runGBps(4*int64(n), func() error { _, err := h.g.SumSquares(x); return err })
		})
	}
}

func BenchmarkEMA(b *testing.B) {
	h := newBench(b)
	avg, x := h.rand(kernels.Shape{attoParams}, 1), h.rand(kernels.Shape{attoParams}, 1)
	h.runGBps(12*attoParams, func() error { return h.g.EMA(avg, x, 0.9998) })
}
