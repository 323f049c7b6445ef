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
var attoStages = []benchStage{
	{56 * 56, 40, "s0_56x56x40"},
	{28 * 28, 80, "s1_28x28x80"},
	{14 * 14, 160, "s2_14x14x160"},
	{7 * 7, 320, "s3_7x7x320"},
}

const benchBatch = 32

// benchStage is one stage's H·W and C, and the sub-benchmark name.
type benchStage struct {
	hw, c int
	name  string
}

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

func BenchmarkLayerNorm(b *testing.B)     { benchLayerNorm(b, attoStages, benchBatch, false) }
func BenchmarkLayerNormGELU(b *testing.B) { benchLayerNorm(b, attoStages, benchBatch, true) }

// benchLayerNorm times LayerNorm, or the fused LayerNorm+GELU (erf) when
// gelu is set, forward and backward over C on batch·H·W rows at each stage.
func benchLayerNorm(b *testing.B, stages []benchStage, batch int, gelu bool) {
	be := New()
	for _, st := range stages {
		s := kernels.NormShape{Rows: batch * st.hw, C: st.c, Eps: 1e-6}
		rc := kernels.Shape{s.Rows, s.C}
		x, y, dy, dx := benchT(b, be, rc, 1), benchT(b, be, rc, 2), benchT(b, be, rc, 3), benchT(b, be, rc, 4)
		w, bias, dw, db := benchT(b, be, kernels.Shape{s.C}, 5), benchT(b, be, kernels.Shape{s.C}, 6), benchT(b, be, kernels.Shape{s.C}, 7), benchT(b, be, kernels.Shape{s.C}, 8)
		mean, rstd := benchT(b, be, kernels.Shape{s.Rows}, 9), benchT(b, be, kernels.Shape{s.Rows}, 10)
		n := int64(s.Rows * s.C * 4)
		fwd := func() error { return be.LayerNorm(y, mean, rstd, x, w, bias, s) }
		bwd := func() error { return be.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s) }
		if gelu {
			fwd = func() error { return be.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUErf) }
			bwd = func() error {
				return be.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias, s, kernels.GELUErf)
			}
		}
		b.Run(st.name+"/fwd", func(b *testing.B) { benchRun(b, 2*n, fwd) })
		b.Run(st.name+"/bwd", func(b *testing.B) { benchRun(b, 3*n, bwd) })
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

func BenchmarkGRN(b *testing.B) { benchGRN(b, attoStages, benchBatch) }

// benchGRN times GRN forward and backward on the 4C expansion of each stage
// for batch images.
func benchGRN(b *testing.B, stages []benchStage, batch int) {
	be := New()
	for _, st := range stages {
		s := kernels.GRNShape{N: batch, HW: st.hw, C: 4 * st.c, Eps: 1e-6}
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

func BenchmarkSGD(b *testing.B) {
	be := New()
	const n = 3_708_400
	p, g, buf := benchT(b, be, kernels.Shape{n}, 1), benchT(b, be, kernels.Shape{n}, 2), benchT(b, be, kernels.Shape{n}, 3)
	groups := []kernels.AdamWGroup{{Offset: 0, Len: n, LR: 1e-2, WeightDecay: 1e-4}}
	h := kernels.SGDHyper{Momentum: 0.9, Nesterov: true}
	benchRun(b, 5*4*n, func() error { return be.SGD(p, g, buf, groups, h) })
}

// BenchmarkElementwise covers the residual add, drop path (ScaleSamples),
// layer scale, EMA and the gradient norm at stage 0 (32×56×56×40).
func BenchmarkElementwise(b *testing.B) {
	be := New()
	sh := kernels.Shape{benchBatch, 56 * 56, 40}
	x, y, z := benchT(b, be, sh, 1), benchT(b, be, sh, 2), benchT(b, be, sh, 3)
	scale, gamma, dgamma := benchT(b, be, kernels.Shape{benchBatch}, 4), benchT(b, be, kernels.Shape{40}, 5), benchT(b, be, kernels.Shape{40}, 6)
	n := int64(sh.Len() * 4)
	b.Run("add", func(b *testing.B) { benchRun(b, 3*n, func() error { return be.Add(z, x, y) }) })
	b.Run("scale-samples", func(b *testing.B) { benchRun(b, 2*n, func() error { return be.ScaleSamples(z, x, scale) }) })
	b.Run("channel-scale", func(b *testing.B) { benchRun(b, 2*n, func() error { return be.ChannelScale(z, x, gamma) }) })
	b.Run("channel-scale-backward", func(b *testing.B) {
		benchRun(b, 3*n, func() error { return be.ChannelScaleBackward(z, dgamma, y, x, gamma) })
	})
	b.Run("ema", func(b *testing.B) { benchRun(b, 3*n, func() error { return be.EMA(z, x, 0.9999) }) })
	b.Run("sum-squares", func(b *testing.B) {
		benchRun(b, n, func() error { _, err := be.SumSquares(x); return err })
	})
}

// BenchmarkAvgPool pools stage 3 (32×7×7×320) into the head's [32, 320].
func BenchmarkAvgPool(b *testing.B) {
	be := New()
	s := kernels.PoolShape{N: benchBatch, HW: 7 * 7, C: 320}
	x, y := benchT(b, be, kernels.Shape{s.N, s.HW, s.C}, 1), benchT(b, be, kernels.Shape{s.N, s.C}, 2)
	n := int64(4 * (s.N*s.HW*s.C + s.N*s.C))
	b.Run("forward", func(b *testing.B) { benchRun(b, n, func() error { return be.AvgPool(y, x, s) }) })
	b.Run("backward", func(b *testing.B) { benchRun(b, n, func() error { return be.AvgPoolBackward(x, y, s) }) })
}

// BenchmarkCrossEntropy is the loss of a batch of 32 over 1000 classes.
func BenchmarkCrossEntropy(b *testing.B) {
	be := New()
	s := kernels.LossShape{N: benchBatch, K: 1000}
	sh := kernels.Shape{s.N, s.K}
	logits, prob, target, d := benchT(b, be, sh, 1), benchT(b, be, sh, 2), benchT(b, be, sh, 3), benchT(b, be, sh, 4)
	if err := be.Scale(target, target, 0); err != nil {
		b.Fatal(err)
	}
	loss := benchT(b, be, kernels.Shape{s.N}, 5)
	n := int64(4 * s.N * s.K)
	b.Run("forward", func(b *testing.B) {
		benchRun(b, 3*n, func() error { return be.CrossEntropy(loss, prob, logits, target, s) })
	})
	b.Run("backward", func(b *testing.B) {
		benchRun(b, 3*n, func() error { return be.CrossEntropyBackward(d, prob, target, 1.0/32, s) })
	})
}

// BenchmarkFakeQuant fake-quantizes a pwconv1 weight per output channel
// (160×40) and a stage-0 activation per tensor, forward and STE backward.
func BenchmarkFakeQuant(b *testing.B) {
	be := New()
	for _, c := range []struct {
		name  string
		shape kernels.Shape
		axis  int
	}{{"weight_160x40", kernels.Shape{160, 40}, 0}, {"activation_s0", kernels.Shape{benchBatch * 56 * 56, 40}, -1}} {
		s, err := kernels.QuantAxis(c.shape, c.axis, -127, 127)
		if err != nil {
			b.Fatal(err)
		}
		x, y := benchT(b, be, c.shape, 1), benchT(b, be, c.shape, 2)
		scale, zp := benchT(b, be, kernels.Shape{s.Channels}, 3), benchT(b, be, kernels.Shape{s.Channels}, 4)
		if err := be.Scale(zp, zp, 0); err != nil {
			b.Fatal(err)
		}
		for i := range scale.Host32() {
			scale.Host32()[i] = 0.01
		}
		n := int64(4 * c.shape.Len())
		b.Run(c.name+"/forward", func(b *testing.B) { benchRun(b, 2*n, func() error { return be.FakeQuant(y, x, scale, zp, s) }) })
		b.Run(c.name+"/backward", func(b *testing.B) {
			benchRun(b, 3*n, func() error {
				return be.FakeQuantBackward(y, kernels.Tensor{}, kernels.Tensor{}, x, x, scale, zp, s, 1)
			})
		})
	}
}

// BenchmarkChannelGate runs the SE/ECA gate forward and backward at the
// Atto stages' shapes (sigmoid; batch 32).
func BenchmarkChannelGate(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.GateShape{N: benchBatch, HW: st.hw, C: st.c}
		xs, gs := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
		x, g, y := benchT(b, be, xs, 1), benchT(b, be, gs, 2), benchT(b, be, xs, 3)
		dx, dg := benchT(b, be, xs, 4), benchT(b, be, gs, 5)
		n := int64(xs.Len())
		b.Run("fwd/"+st.name, func(b *testing.B) { benchRun(b, 8*n, func() error { return be.ChannelGate(y, x, g, s) }) })
		b.Run("bwd/"+st.name, func(b *testing.B) {
			benchRun(b, 12*n, func() error { return be.ChannelGateBackward(dx, dg, y, x, g, s) })
		})
	}
}
