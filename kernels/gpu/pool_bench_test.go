package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// poolBench is ConvNeXt V2-Atto's head input at batch 32: 7×7 × 320.
var poolBench = kernels.PoolShape{N: 32, HW: 49, C: 320}

func BenchmarkAvgPool(b *testing.B) {
	h := newBench(b)
	s := poolBench
	x, y := h.rand(kernels.Shape{s.N, s.HW, s.C}, 1), h.rand(kernels.Shape{s.N, s.C}, 0)
	h.runGBps(4*int64(s.N*s.C*(s.HW+1)), func() error { return h.g.AvgPool(y, x, s) })
}

func BenchmarkAvgPoolBackward(b *testing.B) {
	h := newBench(b)
	s := poolBench
	dx, dy := h.rand(kernels.Shape{s.N, s.HW, s.C}, 0), h.rand(kernels.Shape{s.N, s.C}, 1)
	h.runGBps(4*int64(s.N*s.C*(s.HW+1)), func() error { return h.g.AvgPoolBackward(dx, dy, s) })
}
