package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// BenchmarkBatchNorm runs BatchNorm in training mode, forward and backward,
// at the V2-Atto stage shapes (batch 32) with the 4× expanded width of an
// inverted-residual block. Bytes: forward reads x three times (two
// statistics passes and the apply) and writes y; backward reads dy and x
// twice and writes dx.
func BenchmarkBatchNorm(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.BatchNormShape{Rows: benchBatch * st.hw, C: 4 * st.c, Eps: 1e-5, Momentum: 0.1, Training: true}
		xs, cs := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.C}
		x, y, dy := benchT(b, be, xs, 1), benchT(b, be, xs, 2), benchT(b, be, xs, 3)
		w, bias, mean, rstd := benchT(b, be, cs, 4), benchT(b, be, cs, 5), benchT(b, be, cs, 6), benchT(b, be, cs, 7)
		rm, rv, dw, db := benchT(b, be, cs, 8), benchT(b, be, cs, 9), benchT(b, be, cs, 10), benchT(b, be, cs, 11)
		n := int64(xs.Len())
		b.Run("fwd_"+st.name, func(b *testing.B) {
			benchRun(b, 16*n, func() error { return be.BatchNorm(y, mean, rstd, x, w, bias, rm, rv, s) })
		})
		b.Run("bwd_"+st.name, func(b *testing.B) {
			benchRun(b, 20*n, func() error { return be.BatchNormBackward(y, dw, db, dy, x, mean, rstd, w, s) })
		})
	}
}

// BenchmarkActivation runs each activation kind, forward and backward, on
// the V2-Atto stage-1 expansion (batch 32, 28×28×320). Bytes: 8 per element
// forward, 12 backward.
func BenchmarkActivation(b *testing.B) {
	be := New()
	st := attoStages[1]
	xs := kernels.Shape{benchBatch * st.hw, 4 * st.c}
	x, y, dy := benchT(b, be, xs, 1), benchT(b, be, xs, 2), benchT(b, be, xs, 3)
	n := int64(xs.Len())
	for kind := range kernels.Sigmoid + 1 {
		b.Run(fmt.Sprintf("fwd_%v", kind), func(b *testing.B) {
			benchRun(b, 8*n, func() error { return be.Activation(y, x, kind) })
		})
		b.Run(fmt.Sprintf("bwd_%v", kind), func(b *testing.B) {
			benchRun(b, 12*n, func() error { return be.ActivationBackward(y, dy, x, kind) })
		})
	}
}
