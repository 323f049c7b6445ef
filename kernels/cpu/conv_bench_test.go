package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// Benchmarks at ConvNeXt V2-Atto shapes (dims 40, 80, 160, 320): at 56², 28²,
// 14², 7² for a 224 input with batch 32, and at 14², 7², 3², 1² for the
// 28×28 training target (stem patch 2) with batch 128. Run briefly on a
// shared machine:
//
//	go test ./kernels/cpu -run '^$' -bench . -benchtime 3x
//
// b.SetBytes counts each tensor read or written once; GFLOP/s counts 2 per
// multiply-accumulate.

const convBenchBatch = 32

type convBenchStage struct{ n, hw, c int }

var convBenchStages = []convBenchStage{
	{convBenchBatch, 56, 40}, {convBenchBatch, 28, 80}, {convBenchBatch, 14, 160}, {convBenchBatch, 7, 320},
	{128, 14, 40}, {128, 7, 80}, {128, 3, 160}, {128, 1, 320},
}

// convBenchTensor returns a float32 tensor of shape s filled with uniform values
// in [−1, 1), or zeros when random is false.
func convBenchTensor(b *testing.B, be *Backend, s kernels.Shape, random bool) kernels.Tensor {
	b.Helper()
	t, err := be.Alloc(s)
	if err != nil {
		b.Fatal(err)
	}
	if random {
		copy(t.Host32(), testutil.Rand(testutil.NewRand(uint64(s.Len())), s.Len(), 1))
	}
	return t
}

func reportConvGFLOPs(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkDWConv(b *testing.B) {
	be := New()
	for _, st := range convBenchStages {
		s := kernels.DWConvShape{N: st.n, H: st.hw, W: st.hw, C: st.c, K: 7, Stride: 1}
		a := int64(s.XShape().Len())
		x := convBenchTensor(b, be, s.XShape(), true)
		w := convBenchTensor(b, be, s.WShape(), true)
		bias := convBenchTensor(b, be, kernels.Shape{s.C}, true)
		y := convBenchTensor(b, be, s.YShape(), false)
		name := fmt.Sprintf("%dx%dx%dx%d", st.n, st.hw, st.hw, st.c)
		b.Run("fwd/"+name, func(b *testing.B) {
			b.SetBytes(2 * 4 * a)
			for b.Loop() {
				if err := be.DWConv(y, x, w, bias, s); err != nil {
					b.Fatal(err)
				}
			}
			reportConvGFLOPs(b, 2*float64(s.MACs()))
		})
		dx := convBenchTensor(b, be, s.XShape(), false)
		dw := convBenchTensor(b, be, s.WShape(), false)
		db := convBenchTensor(b, be, kernels.Shape{s.C}, false)
		b.Run("bwd/"+name, func(b *testing.B) {
			b.SetBytes(3 * 4 * a) // read dy and x, write dx
			for b.Loop() {
				if err := be.DWConvBackward(dx, dw, db, y, x, w, s); err != nil {
					b.Fatal(err)
				}
			}
			reportConvGFLOPs(b, 4*float64(s.MACs()))
		})
	}
}

func BenchmarkLinear(b *testing.B) {
	be := New()
	for _, st := range convBenchStages {
		rows := st.n * st.hw * st.hw
		for _, l := range []struct {
			name    string
			in, out int
		}{{"pwconv1", st.c, 4 * st.c}, {"pwconv2", 4 * st.c, st.c}} {
			s := kernels.LinearShape{Rows: rows, In: l.in, Out: l.out}
			x := convBenchTensor(b, be, kernels.Shape{rows, l.in}, true)
			w := convBenchTensor(b, be, kernels.Shape{l.out, l.in}, true)
			bias := convBenchTensor(b, be, kernels.Shape{l.out}, true)
			y := convBenchTensor(b, be, kernels.Shape{rows, l.out}, true)
			name := fmt.Sprintf("%s/%dx%d->%d", l.name, rows, l.in, l.out)
			b.Run("fwd/"+name, func(b *testing.B) {
				b.SetBytes(4 * int64(rows) * int64(l.in+l.out))
				for b.Loop() {
					if err := be.Linear(y, x, w, bias, s); err != nil {
						b.Fatal(err)
					}
				}
				reportConvGFLOPs(b, 2*float64(s.MACs()))
			})
			dx := convBenchTensor(b, be, kernels.Shape{rows, l.in}, false)
			dw := convBenchTensor(b, be, kernels.Shape{l.out, l.in}, false)
			db := convBenchTensor(b, be, kernels.Shape{l.out}, false)
			b.Run("bwd/"+name, func(b *testing.B) {
				b.SetBytes(4 * int64(rows) * int64(2*l.in+l.out))
				for b.Loop() {
					if err := be.LinearBackward(dx, dw, db, y, x, w, s); err != nil {
						b.Fatal(err)
					}
				}
				reportConvGFLOPs(b, 4*float64(s.MACs()))
			})
		}
	}
}

func BenchmarkConv2D(b *testing.B) {
	be := New()
	cases := []struct {
		name string
		s    kernels.ConvShape
		dx   bool
	}{
		{"stem", kernels.ConvShape{N: convBenchBatch, H: 224, W: 224, CIn: 3, COut: 40, K: 4, Stride: 4}, false},
		{"down1", kernels.ConvShape{N: convBenchBatch, H: 56, W: 56, CIn: 40, COut: 80, K: 2, Stride: 2}, true},
		{"down2", kernels.ConvShape{N: convBenchBatch, H: 28, W: 28, CIn: 80, COut: 160, K: 2, Stride: 2}, true},
		{"down3", kernels.ConvShape{N: convBenchBatch, H: 14, W: 14, CIn: 160, COut: 320, K: 2, Stride: 2}, true},
		{"stem28", kernels.ConvShape{N: 128, H: 28, W: 28, CIn: 1, COut: 40, K: 2, Stride: 2}, false},
		{"down1-28", kernels.ConvShape{N: 128, H: 14, W: 14, CIn: 40, COut: 80, K: 2, Stride: 2}, true},
		{"down2-28", kernels.ConvShape{N: 128, H: 7, W: 7, CIn: 80, COut: 160, K: 2, Stride: 2}, true},
		{"down3-28", kernels.ConvShape{N: 128, H: 3, W: 3, CIn: 160, COut: 320, K: 2, Stride: 2}, true},
		// EfficientNetV2's Fused-MBConv 3×3 and ResNeXt's grouped 3×3 on
		// 32² CIFAR maps.
		{"fused3x3-32", kernels.ConvShape{N: convBenchBatch, H: 32, W: 32, CIn: 24, COut: 96, K: 3, Stride: 1, Pad: 1}, true},
		{"g32-3x3-32", kernels.ConvShape{N: convBenchBatch, H: 32, W: 32, CIn: 128, COut: 128, K: 3, Stride: 1, Pad: 1, Groups: 32}, true},
	}
	for _, c := range cases {
		s := c.s
		x := convBenchTensor(b, be, s.XShape(), true)
		w := convBenchTensor(b, be, s.WShape(), true)
		bias := convBenchTensor(b, be, kernels.Shape{s.COut}, true)
		y := convBenchTensor(b, be, s.YShape(), false)
		xb, yb := 4*int64(s.XShape().Len()), 4*int64(s.YShape().Len())
		name := fmt.Sprintf("%s/%dx%dx%dx%d->%d_g%d", c.name, s.N, s.H, s.W, s.CIn, s.COut, s.G())
		b.Run("fwd/"+name, func(b *testing.B) {
			b.SetBytes(xb + yb)
			for b.Loop() {
				if err := be.Conv2D(y, x, w, bias, s); err != nil {
					b.Fatal(err)
				}
			}
			reportConvGFLOPs(b, 2*float64(s.MACs()))
		})
		var dx kernels.Tensor
		flops := 2 * float64(s.MACs())
		bytes := xb + yb
		if c.dx {
			dx = convBenchTensor(b, be, s.XShape(), false)
			flops *= 2
			bytes += xb
		}
		dw := convBenchTensor(b, be, s.WShape(), false)
		db := convBenchTensor(b, be, kernels.Shape{s.COut}, false)
		b.Run("bwd/"+name, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				if err := be.Conv2DBackward(dx, dw, db, y, x, w, s); err != nil {
					b.Fatal(err)
				}
			}
			reportConvGFLOPs(b, flops)
		})
	}
}

func BenchmarkSGEMM(b *testing.B) {
	b.Logf("BLAS: %s", BLAS())
	for _, sz := range [][3]int{{256, 256, 256}, {1024, 1024, 1024}, {2048, 2048, 2048}, {25088, 640, 160}, {100352, 160, 40}} {
		m, n, k := sz[0], sz[1], sz[2]
		rng := testutil.NewRand(1)
		a, bb := testutil.Rand(rng, m*k, 1), testutil.Rand(rng, k*n, 1)
		c := make([]float32, m*n)
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			for b.Loop() {
				SGEMM(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
			}
			reportConvGFLOPs(b, 2*float64(m)*float64(n)*float64(k))
		})
	}
}
