package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// geluBenchSimElems is the most elements a GELU benchmark runs on the
// simulator (sync-free kernels cost tens of nanoseconds per element there).
const geluBenchSimElems = 4 << 20

// benchGELU runs GELU on ConvNeXt V2-Atto's hidden activations (HW × 4C
// per image). Bytes counted: x read and y written (forward); x and dy read
// and dx written (backward).
func benchGELU(b *testing.B, backward bool) {
	for _, approx := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		for _, st := range attoStages {
			b.Run(fmt.Sprintf("%v_%v", approx, st), func(b *testing.B) {
				h := newBench(b)
				s := kernels.Shape{st.N, st.HW(), 4 * st.C}
				n := s.Len()
				h.simLimit(float64(n), geluBenchSimElems, "elements")
				x, y := h.rand(s, 4), h.rand(s, 1)
				g := h.g
				if !backward {
					h.run(8*int64(n), func() error { return g.GELU(y, x, approx) })
					return
				}
				dy := h.rand(s, 1)
				h.run(12*int64(n), func() error { return g.GELUBackward(y, dy, x, approx) })
			})
		}
	}
}

func BenchmarkGELU(b *testing.B)         { benchGELU(b, false) }
func BenchmarkGELUBackward(b *testing.B) { benchGELU(b, true) }
