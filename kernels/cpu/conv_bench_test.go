package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// Benchmarks at ConvNeXt V2-Atto shapes (dims 40, 80, 160, 320 at 56², 28²,
// 14², 7² for a 224 input), batch 32. Run briefly on a shared machine:
//
//	go test ./kernels/cpu -run '^$' -bench . -benchtime 3x
//
// b.SetBytes counts each tensor read or written once; GFLOP/s counts 2 per
// multiply-accumulate.

const benchBatch = 32

var attoStages = []struct{ hw, c int }{{56, 40}, {28, 80}, {14, 160}, {7, 320}}

// benchTensor returns a float32 tensor of shape s filled with uniform values
// in [−1, 1), or zeros when random is false.
func benchTensor(b *testing.B, be *Backend, s kernels.Shape, random bool) kernels.Tensor {
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

func reportGFLOPs(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkDWConv(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: benchBatch, H: st.hw, W: st.hw, C: st.c, K: 7, Stride: 1}
		a := int64(s.XShape().Len())
		x := benchTensor(b, be, s.XShape(), true)
		w := benchTensor(b, be, s.WShape(), true)
		bias := benchTensor(b, be, kernels.Shape{s.C}, true)
		y := benchTensor(b, be, s.YShape(), false)
		name := fmt.Sprintf("%dx%dx%d", st.hw, st.hw, st.c)
		b.Run("fwd/"+name, func(b *testing.B) {
			b.SetBytes(2 * 4 * a)
			for b.Loop() {
				if err := be.DWConv(y, x, w, bias, s); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, 2*float64(s.MACs()))
		})
		dx := benchTensor(b, be, s.XShape(), false)
		dw := benchTensor(b, be, s.WShape(), false)
		db := benchTensor(b, be, kernels.Shape{s.C}, false)
		b.Run("bwd/"+name, func(b *testing.B) {
			b.SetBytes(3 * 4 * a) // read dy and x, write dx
			for b.Loop() {
				if err := be.DWConvBackward(dx, dw, db, y, x, w, s); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, 4*float64(s.MACs()))
		})
	}
}

func BenchmarkLinear(b *testing.B) {
	be := New()
	for _, st := range attoStages {
		rows := benchBatch * st.hw * st.hw
		for _, l := range []struct {
			name    string
			in, out int
		}{{"pwconv1", st.c, 4 * st.c}, {"pwconv2", 4 * st.c, st.c}} {
			s := kernels.LinearShape{Rows: rows, In: l.in, Out: l.out}
			x := benchTensor(b, be, kernels.Shape{rows, l.in}, true)
			w := benchTensor(b, be, kernels.Shape{l.out, l.in}, true)
			bias := benchTensor(b, be, kernels.Shape{l.out}, true)
			y := benchTensor(b, be, kernels.Shape{rows, l.out}, true)
			name := fmt.Sprintf("%s/%dx%d->%d", l.name, rows, l.in, l.out)
			b.Run("fwd/"+name, func(b *testing.B) {
				b.SetBytes(4 * int64(rows) * int64(l.in+l.out))
				for b.Loop() {
					if err := be.Linear(y, x, w, bias, s); err != nil {
						b.Fatal(err)
					}
				}
				reportGFLOPs(b, 2*float64(s.MACs()))
			})
			dx := benchTensor(b, be, kernels.Shape{rows, l.in}, false)
			dw := benchTensor(b, be, kernels.Shape{l.out, l.in}, false)
			db := benchTensor(b, be, kernels.Shape{l.out}, false)
			b.Run("bwd/"+name, func(b *testing.B) {
				b.SetBytes(4 * int64(rows) * int64(2*l.in+l.out))
				for b.Loop() {
					if err := be.LinearBackward(dx, dw, db, y, x, w, s); err != nil {
						b.Fatal(err)
					}
				}
				reportGFLOPs(b, 4*float64(s.MACs()))
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
		{"stem", kernels.ConvShape{N: benchBatch, H: 224, W: 224, CIn: 3, COut: 40, K: 4, Stride: 4}, false},
		{"down1", kernels.ConvShape{N: benchBatch, H: 56, W: 56, CIn: 40, COut: 80, K: 2, Stride: 2}, true},
		{"down2", kernels.ConvShape{N: benchBatch, H: 28, W: 28, CIn: 80, COut: 160, K: 2, Stride: 2}, true},
		{"down3", kernels.ConvShape{N: benchBatch, H: 14, W: 14, CIn: 160, COut: 320, K: 2, Stride: 2}, true},
	}
	for _, c := range cases {
		s := c.s
		x := benchTensor(b, be, s.XShape(), true)
		w := benchTensor(b, be, s.WShape(), true)
		bias := benchTensor(b, be, kernels.Shape{s.COut}, true)
		y := benchTensor(b, be, s.YShape(), false)
		xb, yb := 4*int64(s.XShape().Len()), 4*int64(s.YShape().Len())
		name := fmt.Sprintf("%s/%dx%dx%d->%d", c.name, s.H, s.W, s.CIn, s.COut)
		b.Run("fwd/"+name, func(b *testing.B) {
			b.SetBytes(xb + yb)
			for b.Loop() {
				if err := be.Conv2D(y, x, w, bias, s); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, 2*float64(s.MACs()))
		})
		var dx kernels.Tensor
		flops := 2 * float64(s.MACs())
		bytes := xb + yb
		if c.dx {
			dx = benchTensor(b, be, s.XShape(), false)
			flops *= 2
			bytes += xb
		}
		dw := benchTensor(b, be, s.WShape(), false)
		db := benchTensor(b, be, kernels.Shape{s.COut}, false)
		b.Run("bwd/"+name, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				if err := be.Conv2DBackward(dx, dw, db, y, x, w, s); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, flops)
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
			reportGFLOPs(b, 2*float64(m)*float64(n)*float64(k))
		})
	}
}
