package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// normBench is a backend for one benchmark, with helpers for device
// tensors of random values.
type normBench struct {
	b   *testing.B
	gpu *Backend
	rng interface{ Float64() float64 }
}

// newNormBench opens the benchmark backend (closed when b ends).
func newNormBench(b *testing.B) *normBench {
	b.Helper()
	drv, err := newTestDriver()
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(drv)
	if err != nil {
		drv.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		g.Close()
		drv.Close()
	})
	return &normBench{b: b, gpu: g, rng: testutil.NewRand(1)}
}

// gpuOnly skips the benchmark on the simulator when the work is larger
// than it runs in a few seconds (about work units: rows of shuffle-heavy
// kernels, blocks with barriers, or elements of sync-free kernels).
func (nb *normBench) gpuOnly(work, simLimit int, what string) {
	nb.b.Helper()
	if nb.gpu.Name() != "cuda" && work > simLimit {
		nb.b.Skipf("simulator: %d %s take far longer than a few seconds (limit %d); measure on a GPU", work, what, simLimit)
	}
}

// rand returns a device tensor of shape s with uniform values in
// [−scale, scale).
func (nb *normBench) rand(s kernels.Shape, scale float64) kernels.Tensor {
	nb.b.Helper()
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32((2*nb.rng.Float64() - 1) * scale)
	}
	t, err := nb.gpu.Alloc(s)
	if err == nil {
		err = nb.gpu.Upload(t, v)
	}
	if err != nil {
		nb.b.Fatal(err)
	}
	return t
}

// run times op, synchronising after every call so that each iteration
// measures the kernels and not the queue, and reports bytes per call as
// MB/s.
func (nb *normBench) run(bytes int, op func() error) {
	nb.b.Helper()
	if err := op(); err != nil { // warm-up: allocator, module
		nb.b.Fatal(err)
	}
	if err := nb.gpu.Sync(); err != nil {
		nb.b.Fatal(err)
	}
	nb.b.SetBytes(int64(bytes))
	nb.b.ResetTimer()
	for i := 0; i < nb.b.N; i++ {
		if err := op(); err != nil {
			nb.b.Fatal(err)
		}
		if err := nb.gpu.Sync(); err != nil {
			nb.b.Fatal(err)
		}
	}
}

// lnBenchSimRows is the most rows a LayerNorm benchmark runs on the
// simulator (each row costs a few warp reductions, about 1 ms there).
const lnBenchSimRows = 1000

// benchLayerNorm runs the LayerNorm family at ConvNeXt V2-Atto's LayerNorm
// widths (rows = N·HW). Bytes counted: x read and y written
// once, plus mean and rstd (forward); x and dy read and dx written once
// (backward).
func benchLayerNorm(b *testing.B, fused, backward bool) {
	for _, st := range attoStages {
		b.Run(st.String(), func(b *testing.B) {
			nb := newNormBench(b)
			s := kernels.NormShape{Rows: st.N * st.HW(), C: st.C, Eps: 1e-6}
			nb.gpuOnly(s.Rows, lnBenchSimRows, "rows")
			rc, c, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.C}, kernels.Shape{s.Rows}
			x, w, bias := nb.rand(rc, 1), nb.rand(c, 1), nb.rand(c, 1)
			y, mean, rstd := nb.rand(rc, 1), nb.rand(r, 1), nb.rand(r, 1)
			g := nb.gpu
			if !backward {
				nb.run(8*s.Rows*s.C+8*s.Rows, func() error {
					if fused {
						return g.LayerNormGELU(y, mean, rstd, x, w, bias, s, kernels.GELUErf)
					}
					return g.LayerNorm(y, mean, rstd, x, w, bias, s)
				})
				return
			}
			if err := g.LayerNorm(y, mean, rstd, x, w, bias, s); err != nil {
				b.Fatal(err)
			}
			dy, dx, dw, db := nb.rand(rc, 1), nb.rand(rc, 1), nb.rand(c, 1), nb.rand(c, 1)
			nb.run(12*s.Rows*s.C+8*s.Rows, func() error {
				if fused {
					return g.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias, s, kernels.GELUErf)
				}
				return g.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s)
			})
		})
	}
}

func BenchmarkLayerNorm(b *testing.B)             { benchLayerNorm(b, false, false) }
func BenchmarkLayerNormBackward(b *testing.B)     { benchLayerNorm(b, false, true) }
func BenchmarkLayerNormGELU(b *testing.B)         { benchLayerNorm(b, true, false) }
func BenchmarkLayerNormGELUBackward(b *testing.B) { benchLayerNorm(b, true, true) }
