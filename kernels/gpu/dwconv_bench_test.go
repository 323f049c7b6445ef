package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// BenchmarkDWConv times the 7×7 depthwise forward at the ConvNeXt
// V2-Atto stages. Bytes: x and y once each, plus the weights and bias.
func BenchmarkDWConv(b *testing.B) {
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		b.Run(st.String(), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(s.MACs(), 0), convSimSeconds, "estimated seconds")
			x, w, bias, y := h.rand(s.XShape(), 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.C}, 1), h.rand(s.YShape(), 1)
			bytes := 4 * int64(x.Len()+y.Len()+w.Len()+bias.Len())
			h.runGFLOPs(bytes, 2*s.MACs(), func() error { return h.g.DWConv(y, x, w, bias, s) })
		})
	}
}

// BenchmarkDWConvBackward times the 7×7 depthwise backward (dx, dw and db)
// at the ConvNeXt V2-Atto stages. Bytes: dy and x read, dx written, once
// each; FLOPs: two passes of the forward's.
func BenchmarkDWConvBackward(b *testing.B) {
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		b.Run(st.String(), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(2*s.MACs(), dwBarrierBlocks(s)), convSimSeconds, "estimated seconds")
			x, w, dy := h.rand(s.XShape(), 1), h.rand(s.WShape(), 1), h.rand(s.YShape(), 1)
			dx, dw, db := h.rand(s.XShape(), 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.C}, 1)
			bytes := 4 * int64(x.Len()+dy.Len()+dx.Len())
			h.runGFLOPs(bytes, 4*s.MACs(), func() error { return h.g.DWConvBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}

// dwBarrierBlocks estimates how many blocks of DWConvBackward at K = 7
// synchronise: the weight-gradient blocks, and the second column sum when
// there are over 32 chunks.
func dwBarrierBlocks(s kernels.DWConvShape) int {
	const taps = 7*7 + 1
	nct := blocks(s.C, min(256, dwSmemFloats/taps))
	ct := blocks(s.C, nct)
	ty := max(1, min(256/ct, dwSmemFloats/(taps*ct)))
	chunks := blocks(s.N*blocks(s.OutH(), dwTile)*blocks(s.OutW(), dwTile), ty)
	n := chunks * nct
	if chunks > 32 {
		n += blocks(s.C*taps, columnSumWidth)
	}
	return n
}

// BenchmarkDWConvBF16 times the 7×7 depthwise forward and backward on bf16
// activations at the ConvNeXt V2-Atto stages, through the vector kernels
// (vec: 16-byte-aligned tensors, the _vec_bf16 kernels) and through the
// scalar tiled ones (scalar: the same tensors one element off the
// alignment), so that one GPU run compares the two paths. Bytes and FLOPs
// as BenchmarkDWConv and BenchmarkDWConvBackward count them, at 2 bytes an
// activation element.
func BenchmarkDWConvBF16(b *testing.B) {
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		vecBlocks := int(dwVecGrid(s, s.H, s.W).X) // forward and input-gradient blocks, which synchronise
		for _, path := range []struct {
			name string
			off  int
		}{{"vec", 0}, {"scalar", 1}} {
			b.Run(st.String()+"/fwd_"+path.name, func(b *testing.B) {
				h := newBench(b)
				h.simLimit(simSeconds(s.MACs(), vecBlocks), convSimSeconds, "estimated seconds")
				x, y := h.rand16(s.XShape(), 1, path.off), h.rand16(s.YShape(), 1, path.off)
				w, bias := h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.C}, 1)
				bytes := 2*int64(x.Len()+y.Len()) + 4*int64(w.Len()+bias.Len())
				h.runGFLOPs(bytes, 2*s.MACs(), func() error { return h.g.DWConv(y, x, w, bias, s) })
			})
			b.Run(st.String()+"/bwd_"+path.name, func(b *testing.B) {
				h := newBench(b)
				h.simLimit(simSeconds(2*s.MACs(), vecBlocks+dwBarrierBlocks(s)), convSimSeconds, "estimated seconds")
				x, dy, dx := h.rand16(s.XShape(), 1, path.off), h.rand16(s.YShape(), 1, path.off), h.rand16(s.XShape(), 1, path.off)
				w, dw, db := h.rand(s.WShape(), 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.C}, 1)
				bytes := 2 * int64(x.Len()+dy.Len()+dx.Len())
				h.runGFLOPs(bytes, 4*s.MACs(), func() error { return h.g.DWConvBackward(dx, dw, db, dy, x, w, s) })
			})
		}
	}
}
