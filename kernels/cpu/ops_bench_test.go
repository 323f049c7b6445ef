package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// Benchmarks at ConvNeXt V2-Atto shapes, batch 32, 224×224 input: the four
// stages' H·W and C. LayerNorm runs over C on N·H·W rows; GELU and GRN on
// the 4C expansion. Bytes are the algorithmic minimum traffic (each input
// read once, each output written once), so GB/s compares with memory
// bandwidth. Run briefly, e.g.
//
//	go test -run '^$' -bench . -benchtime=3x ./kernels/cpu/
var attoStages = []struct {
	hw, c int
	name  string
}{
	{56 * 56, 40, "s0_56x56x40"},
	{28 * 28, 80, "s1_28x28x80"},
	{14 * 14, 160, "s2_14x14x160"},
	{7 * 7, 320, "s3_7x7x320"},
}

const benchBatch = 32

// benchT allocates a float32 tensor filled with smooth pseudo-random values.
func benchT(b *testing.B, be *Backend, s kernels.Shape, seed uint64) kernels.Tensor {
	b.Helper()
	x, err := be.Alloc(s)
	if err != nil {
		b.Fatal(err)
	}
	d := x.Host32()
	v := uint32(seed*2654435761 + 1)
	for i := range d {
		v = v*1664525 + 1013904223
		d[i] = float32(int32(v>>8)-(1<<23)) / (1 << 22) // about [−2, 2)
	}
	return x
}

func benchRun(b *testing.B, bytes int64, fn func() error) {
	b.Helper()
	b.SetBytes(bytes)
	b.ResetTimer()
	for range b.N {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.NormShape{Rows: benchBatch * st.hw, C: st.c, Eps: 1e-6}
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

func BenchmarkLayerNormGELU(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.NormShape{Rows: benchBatch * st.hw, C: st.c, Eps: 1e-6}
		rc := kernels.Shape{s.Rows, s.C}
		x, y, dy, dx := benchT(b, be, rc, 1), benchT(b, be, rc, 2), benchT(b, be, rc, 3), benchT(b, be, rc, 4)
		w, bias, dw, db := benchT(b, be, kernels.Shape{s.C}, 5), benchT(b, be, kernels.Shape{s.C}, 6), benchT(b, be, kernels.Shape{s.C}, 7), benchT(b, be, kernels.Shape{s.C}, 8)
		mean, rstd := benchT(b, be, kernels.Shape{s.Rows}, 9), benchT(b, be, kernels.Shape{s.Rows}, 10)
		n := int64(s.Rows * s.C * 4)
		b.Run(st.name+"/fwd", func(b *testing.B) {
			benchRun(b, 2*n, func() error { return be.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUErf) })
		})
		b.Run(st.name+"/bwd", func(b *testing.B) {
			benchRun(b, 3*n, func() error {
				return be.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias, s, kernels.GELUErf)
			})
		})
	}
}

func BenchmarkGELU(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		sh := kernels.Shape{benchBatch, st.hw, 4 * st.c}
		x, y, dy := benchT(b, be, sh, 1), benchT(b, be, sh, 2), benchT(b, be, sh, 3)
		n := int64(sh.Len() * 4)
		for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
			b.Run(fmt.Sprintf("%s_4C/%s/fwd", st.name, a), func(b *testing.B) {
				benchRun(b, 2*n, func() error { return be.GELU(y, x, a) })
			})
			b.Run(fmt.Sprintf("%s_4C/%s/bwd", st.name, a), func(b *testing.B) {
				benchRun(b, 3*n, func() error { return be.GELUBackward(y, dy, x, a) })
			})
		}
	}
}

func BenchmarkGRN(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.GRNShape{N: benchBatch, HW: st.hw, C: 4 * st.c, Eps: 1e-6}
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

func BenchmarkAdamW(b *testing.B) {
	be := New()
	const n = 3_708_400 // ConvNeXt V2-Atto's parameters
	p, g, m, v := benchT(b, be, kernels.Shape{n}, 1), benchT(b, be, kernels.Shape{n}, 2), benchT(b, be, kernels.Shape{n}, 3), benchT(b, be, kernels.Shape{n}, 4)
	if err := be.Scale(v, v, 0); err != nil { // v must be >= 0
		b.Fatal(err)
	}
	groups := []kernels.AdamWGroup{{Offset: 0, Len: 3_690_000, LR: 1e-3, WeightDecay: 0.05}, {Offset: 3_690_000, Len: n - 3_690_000, LR: 1e-3}}
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 10}
	benchRun(b, 7*4*n, func() error { return be.AdamW(p, g, m, v, groups, h) })
}

func BenchmarkElementwise(b *testing.B) {
	be := New()
	sh := kernels.Shape{benchBatch, 56 * 56, 40}
	x, y, z := benchT(b, be, sh, 1), benchT(b, be, sh, 2), benchT(b, be, sh, 3)
	n := int64(sh.Len() * 4)
	b.Run("add", func(b *testing.B) { benchRun(b, 3*n, func() error { return be.Add(z, x, y) }) })
	b.Run("sum-squares", func(b *testing.B) {
		benchRun(b, n, func() error { _, err := be.SumSquares(x); return err })
	})
}
