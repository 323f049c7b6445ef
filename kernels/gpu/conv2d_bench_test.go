package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// attoConvs are the dense convolutions of ConvNeXt V2-Atto at batch 32:
// the patchify stem and the three 2×2 downsampling layers, then the last
// at batch 1, which runs on the simulator too.
var attoConvs = []kernels.ConvShape{
	{N: 32, H: 224, W: 224, CIn: 3, COut: 40, K: 4, Stride: 4},
	{N: 32, H: 56, W: 56, CIn: 40, COut: 80, K: 2, Stride: 2},
	{N: 32, H: 28, W: 28, CIn: 80, COut: 160, K: 2, Stride: 2},
	{N: 32, H: 14, W: 14, CIn: 160, COut: 320, K: 2, Stride: 2},
	{N: 1, H: 14, W: 14, CIn: 160, COut: 320, K: 2, Stride: 2},
	// Beyond Atto: EfficientNetV2-T's first Fused-MBConv 3×3 (24 → 96 at
	// 112²), ResNeXt-50 32×4d's first grouped 3×3 (128 channels, 32 groups at
	// 56²) and the ResNet stem (7×7, stride 2, pad 3), at batch 32.
	{N: 32, H: 112, W: 112, CIn: 24, COut: 96, K: 3, Stride: 1, Pad: 1},
	{N: 32, H: 56, W: 56, CIn: 128, COut: 128, K: 3, Stride: 1, Pad: 1, Groups: 32},
	{N: 32, H: 224, W: 224, CIn: 3, COut: 64, K: 7, Stride: 2, Pad: 3},
}

func convBenchName(s kernels.ConvShape) string {
	return fmt.Sprintf("N%d_%dx%dx%d_to_%d_K%d_S%d_G%d", s.N, s.H, s.W, s.CIn, s.COut, s.K, s.Stride, s.G())
}

// biasGradBlocks is the number of blocks of biasGrad over rows × cols that
// synchronise.
func biasGradBlocks(rows, cols int) int {
	chunks := blocks(rows, max(64, blocks(rows, biasGradChunks)))
	n := chunks * blocks(cols, columnSumWidth)
	if chunks > 32 {
		n += blocks(cols, columnSumWidth)
	}
	return n
}

// BenchmarkConv2D times im2col, the GEMM and the bias add. Bytes: x, y
// and the patch matrix written and read once each.
func BenchmarkConv2D(b *testing.B) {
	for _, s := range attoConvs {
		b.Run(convBenchName(s), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(s.MACs(), 0), convSimSeconds, "estimated seconds")
			x, w, bias, y := h.rand(s.XShape(), 1), h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.COut}, 1), h.rand(s.YShape(), 1)
			cols := int64(s.N) * int64(s.OutH()*s.OutW()*s.CIn*s.K*s.K)
			bytes := 4 * (int64(x.Len()+y.Len()+w.Len()) + 2*cols)
			h.runGFLOPs(bytes, 2*s.MACs(), func() error { return h.g.Conv2D(y, x, w, bias, s) })
		})
	}
}

// BenchmarkConv2DBackward times dx, dw and db of the same layers (the stems,
// those on 3-channel images, without dx, as a model runs them). Bytes: x, dy and dx once, the patch
// matrix written and read twice.
func BenchmarkConv2DBackward(b *testing.B) {
	for _, s := range attoConvs {
		b.Run(convBenchName(s), func(b *testing.B) {
			h := newBench(b)
			h.simLimit(simSeconds(2*s.MACs(), biasGradBlocks(s.N*s.OutH()*s.OutW(), s.COut)), convSimSeconds, "estimated seconds")
			x, w, dy := h.rand(s.XShape(), 1), h.rand(s.WShape(), 1), h.rand(s.YShape(), 1)
			dw, db := h.rand(s.WShape(), 1), h.rand(kernels.Shape{s.COut}, 1)
			var dx kernels.Tensor
			flops := 2 * s.MACs()
			if s.CIn != 3 {
				dx = h.rand(s.XShape(), 1)
				flops *= 2
			}
			cols := int64(s.N) * int64(s.OutH()*s.OutW()*s.CIn*s.K*s.K)
			bytes := 4 * (int64(x.Len()+dy.Len()+dx.Len()) + 4*cols)
			h.runGFLOPs(bytes, flops, func() error { return h.g.Conv2DBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}
