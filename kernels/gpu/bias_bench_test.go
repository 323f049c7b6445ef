package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// BenchmarkBiasAdd times bias_add_f32 on the 4C expansion outputs of the
// ConvNeXt V2-Atto stages (attoStages). Bytes: y read and written.
func BenchmarkBiasAdd(b *testing.B) {
	for _, st := range attoStages {
		rows, cols := st.N*st.H*st.H, 4*st.C
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(int64(rows*cols), 0), convSimSeconds, "estimated seconds")
			y, bias := h.rand(kernels.Shape{rows, cols}, 1), h.rand(kernels.Shape{cols}, 1)
			h.runGFLOPs(8*int64(rows*cols), int64(rows*cols), func() error { return h.g.biasAdd(ptr(y), ptr(bias), rows, cols) })
		})
	}
}

// BenchmarkBiasGrad times the two-pass column sum db += Σ_rows dy on the
// same shapes. Bytes: dy read once.
func BenchmarkBiasGrad(b *testing.B) {
	for _, st := range attoStages {
		rows, cols := st.N*st.H*st.H, 4*st.C
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(int64(rows*cols), biasGradBlocks(rows, cols)), convSimSeconds, "estimated seconds")
			dy, db := h.rand(kernels.Shape{rows, cols}, 1), h.rand(kernels.Shape{cols}, 1)
			h.runGFLOPs(4*int64(rows*cols), int64(rows*cols), func() error { return h.g.biasGrad(db, dy, rows, cols) })
		})
	}
}
