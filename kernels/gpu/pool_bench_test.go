package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// poolBench is ConvNeXt V2-Atto's head input at batch 32: 7×7 × 320.
var poolBench = kernels.PoolShape{N: 32, HW: 49, C: 320}

func BenchmarkAvgPool(b *testing.B) {
	e := newMiscBench(b)
	s := poolBench
	x, y := e.tensor(kernels.Shape{s.N, s.HW, s.C}, 1), e.tensor(kernels.Shape{s.N, s.C}, 0)
	e.run(4*int64(s.N*s.C*(s.HW+1)), func() error { return e.g.AvgPool(y, x, s) })
}

func BenchmarkAvgPoolBackward(b *testing.B) {
	e := newMiscBench(b)
	s := poolBench
	dx, dy := e.tensor(kernels.Shape{s.N, s.HW, s.C}, 0), e.tensor(kernels.Shape{s.N, s.C}, 1)
	e.run(4*int64(s.N*s.C*(s.HW+1)), func() error { return e.g.AvgPoolBackward(dx, dy, s) })
}
