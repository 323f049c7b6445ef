package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// grnBenchSimBlocks is the most statistics-kernel blocks a GRN benchmark
// runs on the simulator (each has a barrier, about 1 ms there).
const grnBenchSimBlocks = 200

// benchGRN runs GRN on ConvNeXt V2-Atto's hidden activations (HW × 4C).
// Bytes counted: the forward reads x twice (statistics, apply) and writes
// y; the backward reads dy and x twice and writes dx.
func benchGRN(b *testing.B, backward bool) {
	for _, st := range attoStages {
		b.Run(st.String(), func(b *testing.B) {
			h := newBench(b)
			s := kernels.GRNShape{N: st.N, HW: st.HW(), C: 4 * st.C, Eps: 1e-6}
			h.simLimit(float64(s.N*blocks(s.C, 32)*blocks(s.HW, grnChunk)), grnBenchSimBlocks, "statistics blocks")
			xs, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
			n := xs.Len()
			x, y, gamma, beta, gnorm := h.rand(xs, 1), h.rand(xs, 1), h.rand(c, 1), h.rand(c, 1), h.rand(nc, 1)
			g := h.g
			if !backward {
				h.run(12*int64(n), func() error { return g.GRN(y, gnorm, x, gamma, beta, s) })
				return
			}
			if err := g.GRN(y, gnorm, x, gamma, beta, s); err != nil {
				b.Fatal(err)
			}
			dy, dg, db := h.rand(xs, 1), h.rand(c, 1), h.rand(c, 1)
			h.run(20*int64(n), func() error { return g.GRNBackward(y, dg, db, dy, x, gnorm, gamma, s) })
		})
	}
}

func BenchmarkGRN(b *testing.B)         { benchGRN(b, false) }
func BenchmarkGRNBackward(b *testing.B) { benchGRN(b, true) }
