package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// rand16 returns a bf16 tensor of shape s holding uniform values in
// [−scale, scale), a view that starts off elements into its allocation:
// off = 1 puts it off the 16-byte alignment, so the bf16 kernels take
// their scalar paths.
func (h *bench) rand16(s kernels.Shape, scale float64, off int) kernels.Tensor {
	h.b.Helper()
	t, err := h.g.AllocDType(kernels.Shape{off + s.Len()}, kernels.BFloat16)
	if err == nil {
		err = h.g.Upload(t, testutil.Rand(h.rng, off+s.Len(), scale))
	}
	if err == nil {
		t, err = t.View(off, s)
	}
	if err != nil {
		h.b.Fatal(err)
	}
	return t
}

// benchMLP16 runs the fused MLP passes on ConvNeXt V2-Atto's bf16 hidden
// activations (HW × 4C, no bias as layers.FusedMLP passes in bf16), on
// aligned tensors (the 8-channel kernels, mlp_fwd_v8_bf16 and
// mlp_bwd_v8_bf16 with grn_bwd_sums_v8_bf16) and on views one element off
// the alignment (the scalar kernels), so that the two can be compared on a
// GPU. Bytes counted, at 2 B an element: the forward reads a and writes h;
// the backward reads dy and h (statistics), then dy, h and a and writes da.
func benchMLP16(b *testing.B, backward bool) {
	for _, st := range attoStages {
		for _, off := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/off%d", st, off), func(b *testing.B) {
				h := newBench(b)
				s := kernels.GRNShape{N: st.N, HW: st.HW(), C: 4 * st.C, Eps: 1e-6}
				h.simLimit(float64(s.N*blocks(s.C, 32)*blocks(s.HW, grnChunk)), grnBenchSimBlocks, "statistics blocks")
				xs, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
				n := int64(xs.Len())
				a, hid, sumSq := h.rand16(xs, 2, off), h.rand16(xs, 1, off), h.rand(nc, 1)
				g := h.g
				if !backward {
					h.run(4*n, func() error { return g.BiasGELUSumSq(hid, sumSq, a, kernels.Tensor{}, s) })
					return
				}
				dy, da := h.rand16(xs, 1, off), h.rand16(xs, 1, off)
				gnorm, gamma, dbias, dgamma, dbeta := h.uniform(nc, 0.5, 2), h.rand(c, 1), h.rand(c, 1), h.rand(c, 1), h.rand(c, 1)
				h.run(12*n, func() error {
					return g.GRNGELUBackward(da, dbias, dgamma, dbeta, dy, hid, a, kernels.Tensor{}, gnorm, gamma, s)
				})
			})
		}
	}
}

func BenchmarkBF16MLPForward(b *testing.B)  { benchMLP16(b, false) }
func BenchmarkBF16MLPBackward(b *testing.B) { benchMLP16(b, true) }
