package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// mlpShapes are odd hidden shapes: odd C, HW = 1, a single sample, C below
// and above the GRN kernels' 4- and 16-wide steps.
var mlpShapes = []kernels.GRNShape{
	{N: 2, HW: 5, C: 13, Eps: 1e-6},
	{N: 1, HW: 1, C: 3, Eps: 1e-6},
	{N: 3, HW: 7, C: 36, Eps: 1e-6},
}

// mlpTensors are the fused MLP ops' tensors at s, filled from seeded
// random values.
type mlpTensors struct {
	a, bias, gamma, beta, dy kernels.Tensor
}

func newMLPTensors(t *testing.T, b *Backend, s kernels.GRNShape) mlpTensors {
	x, c := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}
	return mlpTensors{
		a:     newT(t, b, x, randVals(1, x.Len(), 2)),
		bias:  newT(t, b, c, randVals(2, s.C, 0.5)),
		gamma: newT(t, b, c, randVals(3, s.C, 1)),
		beta:  newT(t, b, c, randVals(4, s.C, 1)),
		dy:    newT(t, b, x, randVals(5, x.Len(), 1)),
	}
}

// TestMLPFusedMatchesUnfused checks the fused ops against the ops they
// replace: bias add, GELU and GRN forward; GRN backward, GELU backward and
// the bias column sum. h is bit-identical (the same bias add and GELU);
// the rest differs only by sumSq's float32 storage on the float32 backend.
func TestMLPFusedMatchesUnfused(t *testing.T) {
	for _, b := range backends() {
		tol := 1e-12
		if b.dt == kernels.Float32 {
			tol = 2e-5
		}
		for _, s := range mlpShapes {
			t.Run(fmt.Sprintf("%v %+v", b.dt, s), func(t *testing.T) {
				in := newMLPTensors(t, b, s)
				x, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
				// Unfused.
				pre := newT(t, b, x, nil)
				av, bv := vals(in.a), vals(in.bias)
				pv := make([]float64, len(av))
				for i := range av {
					pv[i] = av[i] + bv[i%s.C]
				}
				must(t, b.Upload(pre, toF32(pv)))
				if b.dt == kernels.Float64 {
					copy(pre.Host64(), pv)
				}
				h, y, gn := newT(t, b, x, nil), newT(t, b, x, nil), newT(t, b, nc, nil)
				must(t, b.GELU(h, pre, kernels.GELUErf))
				must(t, b.GRN(y, gn, h, in.gamma, in.beta, s))
				dh, da, dg, dbe := newT(t, b, x, nil), newT(t, b, x, nil), newT(t, b, c, nil), newT(t, b, c, nil)
				must(t, b.GRNBackward(dh, dg, dbe, in.dy, h, gn, in.gamma, s))
				must(t, b.GELUBackward(da, dh, pre, kernels.GELUErf))
				dav := vals(da)
				dbiv := make([]float64, s.C)
				for i, v := range dav {
					dbiv[i%s.C] += v
				}
				// Fused.
				h2, ss, y2, gn2 := newT(t, b, x, nil), newT(t, b, nc, nil), newT(t, b, x, nil), newT(t, b, nc, nil)
				must(t, b.BiasGELUSumSq(h2, ss, in.a, in.bias, s))
				must(t, b.GRNApply(y2, gn2, h2, ss, in.gamma, in.beta, s))
				da2, dg2, dbe2, dbi2 := newT(t, b, x, nil), newT(t, b, c, nil), newT(t, b, c, nil), newT(t, b, c, nil)
				must(t, b.GRNGELUBackward(da2, dbi2, dg2, dbe2, in.dy, h2, in.a, in.bias, gn2, in.gamma, s))

				testutil.AllClose(t, "h", vals(h2), vals(h), 0, 0)
				testutil.AllClose(t, "gnorm", vals(gn2), vals(gn), tol, 0)
				testutil.AllClose(t, "y", vals(y2), vals(y), tol, tol)
				testutil.AllClose(t, "da", vals(da2), dav, tol, tol)
				testutil.AllClose(t, "dgamma", vals(dg2), vals(dg), tol, tol)
				testutil.AllClose(t, "dbeta", vals(dbe2), vals(dbe), tol, tol)
				testutil.AllClose(t, "dbias", vals(dbi2), dbiv, tol, tol)
			})
		}
	}
}

// TestMLPFusedGradient checks GRNGELUBackward against central differences
// of L = Σ dy·GRNApply(BiasGELUSumSq(a, bias)) in float64, with respect to
// a, bias, gamma and beta.
func TestMLPFusedGradient(t *testing.T) {
	b := New64()
	for _, s := range mlpShapes[:2] {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			in := newMLPTensors(t, b, s)
			x, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
			h, ss, y, gn := newT(t, b, x, nil), newT(t, b, nc, nil), newT(t, b, x, nil), newT(t, b, nc, nil)
			loss := func() float64 {
				must(t, b.BiasGELUSumSq(h, ss, in.a, in.bias, s))
				must(t, b.GRNApply(y, gn, h, ss, in.gamma, in.beta, s))
				return dot(vals(y), vals(in.dy))
			}
			loss()
			da, dbi, dg, dbe := newT(t, b, x, nil), newT(t, b, c, nil), newT(t, b, c, nil), newT(t, b, c, nil)
			must(t, b.GRNGELUBackward(da, dbi, dg, dbe, in.dy, h, in.a, in.bias, gn, in.gamma, s))
			checkGrad(t, "da", in.a, vals(da), loss)
			checkGrad(t, "dbias", in.bias, vals(dbi), loss)
			checkGrad(t, "dgamma", in.gamma, vals(dg), loss)
			checkGrad(t, "dbeta", in.beta, vals(dbe), loss)
		})
	}
}

// TestBiasGELUSumSqBF16 checks the bf16 emulation of BiasGELUSumSq: h is
// the float32 run's h rounded to nearest even, and sumSq sums the squares
// of that stored h (what GRN would sum reading it), not of the float32 h.
func TestBiasGELUSumSqBF16(t *testing.T) {
	for _, s := range mlpShapes {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			x, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
			av := toF32(randVals(1, x.Len(), 2))
			for i := range av {
				av[i] = bfloat16.Round(av[i])
			}
			bv := toF32(randVals(2, s.C, 0.5))
			run := func(p kernels.Precision) (h, ss []float32) {
				b := New()
				must(t, b.SetPrecision(p))
				dt := kernels.Float32
				if p == kernels.BF16 {
					dt = kernels.BFloat16
				}
				a, err := b.AllocDType(x, dt)
				must(t, err)
				ht, err := b.AllocDType(x, dt)
				must(t, err)
				must(t, b.Upload(a, av))
				bias, sst := newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, nc, nil)
				must(t, b.Upload(bias, bv))
				must(t, b.BiasGELUSumSq(ht, sst, a, bias, s))
				h, ss = make([]float32, x.Len()), make([]float32, nc.Len())
				must(t, b.Download(h, ht))
				must(t, b.Download(ss, sst))
				return h, ss
			}
			h32, _ := run(kernels.FP32)
			h16, ss16 := run(kernels.BF16)
			rounded := 0
			for i, v := range h32 {
				if w := bfloat16.Round(v); math.Float32bits(h16[i]) != math.Float32bits(w) {
					t.Fatalf("h[%d] = %g, want %g", i, h16[i], w)
				}
				if h16[i] != v {
					rounded++
				}
			}
			if rounded == 0 {
				t.Fatal("no h needed rounding; the test does not test the store")
			}
			for n := range s.N {
				for c := range s.C {
					var sum float64
					for r := range s.HW {
						v := float64(h16[(n*s.HW+r)*s.C+c])
						sum += v * v
					}
					if got := ss16[n*s.C+c]; got != float32(sum) {
						t.Errorf("sumSq[%d,%d] = %g, want %g", n, c, got, float32(sum))
					}
				}
			}
		})
	}
}
