package cpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// fashionStages are the four stages of ConvNeXt V2-Atto in the shipped
// Fashion-MNIST run (configs/fashion_mnist.toml: 28×28 input, 2×2 stem,
// batch 64): H·W and C. Small samples that stay in cache, unlike the 224×224
// shapes of attoStages, so these measure the kernels' arithmetic rather
// than memory bandwidth.
var fashionStages = []struct {
	hw, c int
	name  string
}{
	{14 * 14, 40, "s0_14x14x40"},
	{7 * 7, 80, "s1_7x7x80"},
	{3 * 3, 160, "s2_3x3x160"},
	{1, 320, "s3_1x1x320"},
}

const fashionBatch = 64

func BenchmarkLayerNormFashion(b *testing.B) {
	be := New()
	for _, st := range fashionStages {
		s := kernels.NormShape{Rows: fashionBatch * st.hw, C: st.c, Eps: 1e-6}
		rc := kernels.Shape{s.Rows, s.C}
		x, y, dy, dx := benchT(b, be, rc, 1), benchT(b, be, rc, 2), benchT(b, be, rc, 3), benchT(b, be, rc, 4)
		w, bias, dw, db := benchT(b, be, kernels.Shape{s.C}, 5), benchT(b, be, kernels.Shape{s.C}, 6), benchT(b, be, kernels.Shape{s.C}, 7), benchT(b, be, kernels.Shape{s.C}, 8)
		mean, rstd := benchT(b, be, kernels.Shape{s.Rows}, 9), benchT(b, be, kernels.Shape{s.Rows}, 10)
		n := int64(s.Rows * s.C * 4)
		b.Run(st.name+"/fwd", func(b *testing.B) {
			benchRun(b, 2*n, func() error { return be.LayerNorm(y, mean, rstd, x, w, bias, s) })
		})
		b.Run(st.name+"/bwd", func(b *testing.B) {
			benchRun(b, 3*n, func() error { return be.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s) })
		})
	}
}

func BenchmarkGRNFashion(b *testing.B) {
	be := New()
	for _, st := range fashionStages {
		s := kernels.GRNShape{N: fashionBatch, HW: st.hw, C: 4 * st.c, Eps: 1e-6}
		sh := kernels.Shape{s.N, s.HW, s.C}
		x, y, dy, dx := benchT(b, be, sh, 1), benchT(b, be, sh, 2), benchT(b, be, sh, 3), benchT(b, be, sh, 4)
		gamma, beta := benchT(b, be, kernels.Shape{s.C}, 5), benchT(b, be, kernels.Shape{s.C}, 6)
		dgamma, dbeta := benchT(b, be, kernels.Shape{s.C}, 7), benchT(b, be, kernels.Shape{s.C}, 8)
		gnorm := benchT(b, be, kernels.Shape{s.N, s.C}, 9)
		n := int64(sh.Len() * 4)
		b.Run(st.name+"_4C/fwd", func(b *testing.B) {
			benchRun(b, 2*n, func() error { return be.GRN(y, gnorm, x, gamma, beta, s) })
		})
		if err := be.GRN(y, gnorm, x, gamma, beta, s); err != nil {
			b.Fatal(err)
		}
		b.Run(st.name+"_4C/bwd", func(b *testing.B) {
			benchRun(b, 3*n, func() error { return be.GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma, s) })
		})
	}
}
