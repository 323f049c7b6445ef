package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

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
			h := newBench(b)
			s := kernels.NormShape{Rows: st.N * st.HW(), C: st.C, Eps: 1e-6}
			h.simLimit(float64(s.Rows), lnBenchSimRows, "rows")
			rc, c, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.C}, kernels.Shape{s.Rows}
			x, w, bias := h.rand(rc, 1), h.rand(c, 1), h.rand(c, 1)
			y, mean, rstd := h.rand(rc, 1), h.rand(r, 1), h.rand(r, 1)
			g := h.g
			if !backward {
				h.run(int64(8*s.Rows*s.C+8*s.Rows), func() error {
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
			dy, dx, dw, db := h.rand(rc, 1), h.rand(rc, 1), h.rand(c, 1), h.rand(c, 1)
			h.run(int64(12*s.Rows*s.C+8*s.Rows), func() error {
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
