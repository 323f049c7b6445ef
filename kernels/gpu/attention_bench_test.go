package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// gateBench is EfficientNet-B0's widest early SE at batch 32: the 112² × 96
// expansion of stage 2's first MBConv.
var gateBench = kernels.GateShape{N: 32, HW: 112 * 112, C: 96}

func BenchmarkChannelGate(b *testing.B) {
	h := newBench(b)
	s := gateBench
	n := s.N * s.HW * s.C
	h.simLimit(float64(n), simStreamLimit, "elements")
	x, g, y := h.rand(kernels.Shape{s.N, s.HW, s.C}, 1), h.rand(kernels.Shape{s.N, s.C}, 2), h.rand(kernels.Shape{s.N, s.HW, s.C}, 0)
	h.runGBps(8*int64(n), func() error { return h.g.ChannelGate(y, x, g, s) })
}

func BenchmarkChannelGateBackward(b *testing.B) {
	h := newBench(b)
	s := gateBench
	n := s.N * s.HW * s.C
	h.simLimit(float64(n), simStreamLimit, "elements")
	x, g, dy := h.rand(kernels.Shape{s.N, s.HW, s.C}, 1), h.rand(kernels.Shape{s.N, s.C}, 2), h.rand(kernels.Shape{s.N, s.HW, s.C}, 1)
	dx, dg := h.rand(kernels.Shape{s.N, s.HW, s.C}, 0), h.rand(kernels.Shape{s.N, s.C}, 0)
	h.runGBps(12*int64(n), func() error { return h.g.ChannelGateBackward(dx, dg, dy, x, g, s) })
}

// channelConvBench is ECA over ConvNeXt V2-Atto's widest stage (320
// channels, k = 5) at batch 128.
var channelConvBench = kernels.ChannelConvShape{N: 128, C: 320, K: 5}

func BenchmarkChannelConv(b *testing.B) {
	h := newBench(b)
	s := channelConvBench
	x, w, y := h.rand(kernels.Shape{s.N, s.C}, 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.N, s.C}, 0)
	h.runGBps(8*int64(s.N*s.C), func() error { return h.g.ChannelConv(y, x, w, s) })
}

func BenchmarkChannelConvBackward(b *testing.B) {
	h := newBench(b)
	s := channelConvBench
	x, w, dy := h.rand(kernels.Shape{s.N, s.C}, 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.N, s.C}, 1)
	dx, dw := h.rand(kernels.Shape{s.N, s.C}, 0), h.rand(s.WShape(), 0)
	h.runGBps(4*int64(s.N*s.C)*int64(3+s.K), func() error { return h.g.ChannelConvBackward(dx, dw, dy, x, w, s) })
}
