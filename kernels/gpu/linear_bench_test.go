package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// attoLinears are the pointwise layers of the ConvNeXt V2-Atto blocks
// (attoStages): the 4× expansion C → 4C and the projection 4C → C.
func attoLinears() []kernels.LinearShape {
	var out []kernels.LinearShape
	for _, st := range attoStages {
		rows := st.N * st.H * st.H
		out = append(out, kernels.LinearShape{Rows: rows, In: st.C, Out: 4 * st.C}, kernels.LinearShape{Rows: rows, In: 4 * st.C, Out: st.C})
	}
	return out
}

// BenchmarkLinear times y = x·wᵀ + b. Bytes: x and y once, w.
func BenchmarkLinear(b *testing.B) {
	for _, s := range attoLinears() {
		b.Run(fmt.Sprintf("%dx%d_to_%d", s.Rows, s.In, s.Out), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(s.MACs(), 0), convSimSeconds, "estimated seconds")
			x, w, bias, y := h.rand(kernels.Shape{s.Rows, s.In}, 1), h.rand(kernels.Shape{s.Out, s.In}, 1), h.rand(kernels.Shape{s.Out}, 1), h.rand(kernels.Shape{s.Rows, s.Out}, 1)
			bytes := 4 * int64(x.Len()+y.Len()+w.Len())
			h.runGFLOPs(bytes, 2*s.MACs(), func() error { return h.g.Linear(y, x, w, bias, s) })
		})
	}
}

// BenchmarkLinearBackward times dx, dw and db. Bytes: dy read twice (GEMM
// and bias gradient), x read, dx written.
func BenchmarkLinearBackward(b *testing.B) {
	for _, s := range attoLinears() {
		b.Run(fmt.Sprintf("%dx%d_to_%d", s.Rows, s.In, s.Out), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(2*s.MACs(), biasGradBlocks(s.Rows, s.Out)), convSimSeconds, "estimated seconds")
			x, w, dy := h.rand(kernels.Shape{s.Rows, s.In}, 1), h.rand(kernels.Shape{s.Out, s.In}, 1), h.rand(kernels.Shape{s.Rows, s.Out}, 1)
			dx, dw, db := h.rand(kernels.Shape{s.Rows, s.In}, 1), h.rand(kernels.Shape{s.Out, s.In}, 1), h.rand(kernels.Shape{s.Out}, 1)
			bytes := 4 * int64(2*dy.Len()+x.Len()+dx.Len())
			h.runGFLOPs(bytes, 4*s.MACs(), func() error { return h.g.LinearBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}
