package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// maxPoolBench is ResNet-50's stem pool at 224² and batch 32: 112×112 × 64
// pooled 3×3, stride 2, pad 1, to 56×56.
var maxPoolBench = kernels.MaxPoolShape{N: 32, H: 112, W: 112, C: 64, K: 3, Stride: 2, Pad: 1}

// BenchmarkMaxPool reports the forward's rate over its DRAM traffic: x
// read and y written once (kernels/src/maxpool.cu).
func BenchmarkMaxPool(b *testing.B) {
	h := newBench(b)
	s := maxPoolBench
	oh, ow := s.Out()
	h.simLimit(float64(s.N*oh*ow*s.C), simStreamLimit, "elements")
	x, y := h.rand(kernels.Shape{s.N, s.H, s.W, s.C}, 1), h.rand(kernels.Shape{s.N, oh, ow, s.C}, 0)
	h.runGBps(4*int64(x.Len()+y.Len()), func() error { return h.g.MaxPool(y, x, s) })
}

// BenchmarkMaxPoolBackward reports the backward's rate over x and dy read
// and dx written once.
func BenchmarkMaxPoolBackward(b *testing.B) {
	h := newBench(b)
	s := maxPoolBench
	oh, ow := s.Out()
	h.simLimit(float64(s.N*s.H*s.W*s.C), simStreamLimit, "elements")
	x, dx := h.rand(kernels.Shape{s.N, s.H, s.W, s.C}, 1), h.rand(kernels.Shape{s.N, s.H, s.W, s.C}, 0)
	dy := h.rand(kernels.Shape{s.N, oh, ow, s.C}, 1)
	h.runGBps(4*int64(2*x.Len()+dy.Len()), func() error { return h.g.MaxPoolBackward(dx, dy, x, s) })
}
