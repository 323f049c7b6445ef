package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// conv2DLayer is Conv2D at s for checkLayer.
func conv2DLayer(s kernels.ConvShape) layerCase {
	return newLayerCase(s, s.XShape(), s.WShape(), s.YShape(), s.COut, kernels.Backend.Conv2D, kernels.Backend.Conv2DBackward)
}

// convCases are the ConvNeXt patchify stem on 1- and 3-channel input, the
// 2×2 downsampling (also on odd sizes, whose last row and column no patch
// reads), 3×3 convolutions with padding at stride 1 and 2, 1×1 convolutions
// (the direct GEMM at stride 1) and images one pixel high or wide.
var convCases = []kernels.ConvShape{
	{N: 2, H: 16, W: 12, CIn: 3, COut: 8, K: 4, Stride: 4},
	{N: 2, H: 8, W: 12, CIn: 1, COut: 5, K: 4, Stride: 4},
	{N: 2, H: 6, W: 8, CIn: 5, COut: 7, K: 2, Stride: 2},
	{N: 1, H: 7, W: 5, CIn: 6, COut: 4, K: 2, Stride: 2},
	{N: 2, H: 9, W: 7, CIn: 5, COut: 6, K: 3, Stride: 2, Pad: 1},
	{N: 2, H: 6, W: 5, CIn: 3, COut: 37, K: 3, Stride: 1, Pad: 1},
	{N: 3, H: 5, W: 4, CIn: 37, COut: 5, K: 1, Stride: 1},
	{N: 2, H: 5, W: 6, CIn: 4, COut: 3, K: 1, Stride: 2},
	{N: 1, H: 1, W: 9, CIn: 4, COut: 3, K: 3, Stride: 1, Pad: 1},
	{N: 2, H: 7, W: 1, CIn: 2, COut: 5, K: 3, Stride: 2, Pad: 1},
	{N: 1, H: 10, W: 9, CIn: 3, COut: 4, K: 5, Stride: 3, Pad: 2},
	{N: 2, H: 7, W: 6, CIn: 6, COut: 9, K: 3, Stride: 2, Pad: 1, Groups: 3},  // odd channels per group
	{N: 1, H: 1, W: 5, CIn: 10, COut: 5, K: 3, Stride: 1, Pad: 1, Groups: 5}, // H = 1, one output channel per group
	{N: 3, H: 4, W: 3, CIn: 6, COut: 4, K: 1, Stride: 1, Groups: 2},          // grouped direct GEMM
	{N: 2, H: 8, W: 8, CIn: 4, COut: 6, K: 2, Stride: 2, Groups: 2},          // grouped patchify
	{N: 1, H: 11, W: 9, CIn: 3, COut: 5, K: 7, Stride: 2, Pad: 3},            // the ResNet stem's geometry
}

func convName(s kernels.ConvShape) string {
	return fmt.Sprintf("K%d_S%d_P%d_G%d_%dx%dx%dx%d_to_%d", s.K, s.Stride, s.Pad, s.G(), s.N, s.H, s.W, s.CIn, s.COut)
}

// TestConv2D compares every output and gradient with the CPU backend.
func TestConv2D(t *testing.T) {
	for i, s := range convCases {
		t.Run(convName(s), func(t *testing.T) { checkLayer(t, uint64(400+i), conv2DLayer(s), layerAll) })
	}
}

// TestConv2DChunked shrinks the im2col buffer to two output rows, so the
// batch is processed in several chunks whose patches overlap at the chunk
// borders (dx then accumulates over chunks).
func TestConv2DChunked(t *testing.T) {
	saved := convColBytes
	t.Cleanup(func() { convColBytes = saved })
	for i, s := range convCases {
		if s.K == 1 && s.Stride == 1 {
			continue // the direct GEMM has no buffer
		}
		p := newConvPlan(s)
		convColBytes = 4 * 2 * p.ow * p.ck
		if p = newConvPlan(s); p.perStep != 2 || p.rows <= 2 {
			continue
		}
		t.Run(convName(s), func(t *testing.T) { checkLayer(t, uint64(500+i), conv2DLayer(s), layerAll) })
	}
}

// TestConv2DOptional leaves out the bias, dx (the stem needs none) and db in
// turn.
func TestConv2DOptional(t *testing.T) {
	for i, s := range []kernels.ConvShape{
		{N: 2, H: 8, W: 8, CIn: 3, COut: 5, K: 4, Stride: 4},
		{N: 2, H: 5, W: 6, CIn: 3, COut: 4, K: 3, Stride: 1, Pad: 1},
		{N: 2, H: 3, W: 3, CIn: 5, COut: 4, K: 1, Stride: 1},
		{N: 2, H: 5, W: 5, CIn: 6, COut: 3, K: 3, Stride: 2, Pad: 1, Groups: 3},
	} {
		for j, o := range []layerOpts{{dx: true, db: true}, {bias: true, db: true}, {bias: true, dx: true}, {}} {
			t.Run(fmt.Sprintf("%s_bias%v_dx%v_db%v", convName(s), o.bias, o.dx, o.db), func(t *testing.T) {
				checkLayer(t, uint64(600+10*i+j), conv2DLayer(s), o)
			})
		}
	}
}

// TestConv2DErrors checks that bad shapes, mismatched, missing and host
// tensors are errors wrapping ErrShape or ErrDType.
func TestConv2DErrors(t *testing.T) {
	p := newPair(t, 10)
	s := kernels.ConvShape{N: 1, H: 4, W: 4, CIn: 2, COut: 3, K: 2, Stride: 2}
	_, x := p.in(s.XShape(), 1)
	_, w := p.in(s.WShape(), 1)
	_, y := p.in(s.YShape(), 1)
	_, dw := p.in(s.WShape(), 1)
	hostW, _ := p.in(s.WShape(), 1)
	big := s
	big.K = 7
	wantErrors(t, []errCase{
		{"kernel larger than input", p.gpu.Conv2D(y, x, w, kernels.Tensor{}, big), kernels.ErrShape},
		{"negative pad", p.gpu.Conv2D(y, x, w, kernels.Tensor{}, kernels.ConvShape{N: 1, H: 4, W: 4, CIn: 2, COut: 3, K: 2, Stride: 2, Pad: -1}), kernels.ErrShape},
		{"y shape", p.gpu.Conv2D(x, x, w, kernels.Tensor{}, s), kernels.ErrShape},
		{"w shape", p.gpu.Conv2D(y, x, y, kernels.Tensor{}, s), kernels.ErrShape},
		{"bias shape", p.gpu.Conv2D(y, x, w, x, s), kernels.ErrShape},
		{"host w", p.gpu.Conv2D(y, x, hostW, kernels.Tensor{}, s), kernels.ErrDType},
		{"backward nil dy", p.gpu.Conv2DBackward(kernels.Tensor{}, dw, kernels.Tensor{}, kernels.Tensor{}, x, w, s), kernels.ErrShape},
		{"backward dx shape", p.gpu.Conv2DBackward(y, dw, kernels.Tensor{}, y, x, w, s), kernels.ErrShape},
		{"backward host w", p.gpu.Conv2DBackward(kernels.Tensor{}, dw, kernels.Tensor{}, y, x, hostW, s), kernels.ErrDType},
	})
}
