package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// benchBatchNorm runs BatchNorm in training mode on ConvNeXt V2-Atto's
// stage shapes with the 4× expanded width of an inverted-residual block
// (HW rows × 4C channels per image). Bytes counted: forward, x read three
// times (two statistics passes and the apply) and y written, 16 B per
// element; backward, dy and x read twice and dx written, 20 B.
func benchBatchNorm(b *testing.B, backward bool) {
	for _, st := range attoStages {
		b.Run(st.String(), func(b *testing.B) {
			h := newBench(b)
			s := kernels.BatchNormShape{Rows: st.N * st.HW(), C: 4 * st.C, Eps: 1e-5, Momentum: 0.1, Training: true}
			xs, cs := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.C}
			n := xs.Len()
			h.simLimit(float64(n), geluBenchSimElems, "elements")
			x, y := h.rand(xs, 4), h.rand(xs, 1)
			w, bias, mean, rstd := h.rand(cs, 1), h.rand(cs, 1), h.rand(cs, 1), h.uniform(cs, 0.5, 2)
			rm, rv := h.rand(cs, 1), h.uniform(cs, 0.5, 2)
			g := h.g
			if !backward {
				h.run(16*int64(n), func() error { return g.BatchNorm(y, mean, rstd, x, w, bias, rm, rv, s) })
				return
			}
			dy, dw, db := h.rand(xs, 1), h.rand(cs, 1), h.rand(cs, 1)
			h.run(20*int64(n), func() error { return g.BatchNormBackward(y, dw, db, dy, x, mean, rstd, w, s) })
		})
	}
}

func BenchmarkBatchNorm(b *testing.B)         { benchBatchNorm(b, false) }
func BenchmarkBatchNormBackward(b *testing.B) { benchBatchNorm(b, true) }

// benchActivation runs SiLU and Hardswish (EfficientNet's and MobileNetV3's
// activations; the others cost the same or less) on the shapes of
// benchBatchNorm. Bytes: 8 per element forward, 12 backward.
func benchActivation(b *testing.B, backward bool) {
	for _, kind := range []kernels.ActivationKind{kernels.SiLU, kernels.Hardswish} {
		for _, st := range attoStages {
			b.Run(fmt.Sprintf("%v_%v", kind, st), func(b *testing.B) {
				h := newBench(b)
				s := kernels.Shape{st.N, st.HW(), 4 * st.C}
				n := s.Len()
				h.simLimit(float64(n), geluBenchSimElems, "elements")
				x, y := h.rand(s, 4), h.rand(s, 1)
				g := h.g
				if !backward {
					h.run(8*int64(n), func() error { return g.Activation(y, x, kind) })
					return
				}
				dy := h.rand(s, 1)
				h.run(12*int64(n), func() error { return g.ActivationBackward(y, dy, x, kind) })
			})
		}
	}
}

func BenchmarkActivation(b *testing.B)         { benchActivation(b, false) }
func BenchmarkActivationBackward(b *testing.B) { benchActivation(b, true) }
