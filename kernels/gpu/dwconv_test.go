package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// dwConvLayer is DWConv at s for checkLayer.
func dwConvLayer(s kernels.DWConvShape) layerCase {
	return newLayerCase(s, s.XShape(), s.WShape(), s.YShape(), s.C, kernels.Backend.DWConv, kernels.Backend.DWConvBackward)
}

// TestDWConvTiled covers every compiled (K, stride) pair of the tiled
// kernels on odd channel counts, odd sizes, and images one pixel high or
// wide, where most taps fall in the padding.
func TestDWConvTiled(t *testing.T) {
	sizes := []struct{ N, H, W, C int }{
		{1, 5, 7, 3},
		{2, 9, 6, 37},
		{1, 1, 6, 5},
		{2, 7, 1, 4},
	}
	seed := uint64(1)
	for _, k := range []int{3, 5, 7, 9} {
		for _, stride := range []int{1, 2} {
			for _, z := range sizes {
				s := kernels.DWConvShape{N: z.N, H: z.H, W: z.W, C: z.C, K: k, Stride: stride}
				if !dwTiled(s) {
					t.Fatalf("%+v should take the tiled kernels", s)
				}
				seed++
				t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", k, stride, z.N, z.H, z.W, z.C), func(t *testing.T) {
					checkLayer(t, seed, dwConvLayer(s), layerAll)
				})
			}
		}
	}
}

// TestDWConvShapes covers a scaled-down ConvNeXt V2-Atto stage, more
// channels than one weight-gradient block takes (161 at K = 9 needs two
// channel tiles), and the generic kernels (K = 11, stride 3, K = 1).
func TestDWConvShapes(t *testing.T) {
	cases := []kernels.DWConvShape{
		{N: 2, H: 14, W: 14, C: 40, K: 7, Stride: 1},
		{N: 1, H: 5, W: 6, C: 161, K: 9, Stride: 1},
		{N: 1, H: 6, W: 5, C: 161, K: 7, Stride: 2},
		{N: 2, H: 7, W: 9, C: 5, K: 11, Stride: 1},
		{N: 1, H: 8, W: 7, C: 37, K: 3, Stride: 3},
		{N: 2, H: 5, W: 4, C: 6, K: 1, Stride: 1},
		{N: 1, H: 1, W: 1, C: 7, K: 5, Stride: 2},
	}
	for i, s := range cases {
		t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", s.K, s.Stride, s.N, s.H, s.W, s.C), func(t *testing.T) {
			checkLayer(t, uint64(100+i), dwConvLayer(s), layerAll)
		})
	}
}

// TestDWConvOptional leaves out the bias, dx and db in turn, on the tiled
// and the generic kernels.
func TestDWConvOptional(t *testing.T) {
	for i, s := range []kernels.DWConvShape{
		{N: 2, H: 6, W: 5, C: 9, K: 7, Stride: 1},
		{N: 1, H: 6, W: 5, C: 9, K: 11, Stride: 2},
	} {
		for j, o := range []layerOpts{{dx: true, db: true}, {bias: true, db: true}, {bias: true, dx: true}, {}} {
			t.Run(fmt.Sprintf("K%d_bias%v_dx%v_db%v", s.K, o.bias, o.dx, o.db), func(t *testing.T) {
				checkLayer(t, uint64(200+10*i+j), dwConvLayer(s), o)
			})
		}
	}
}

// TestDWConvTilesPerThread makes every weight-gradient thread sum several
// tiles (the most it may) with a partial last chunk, and the generic kernel
// sum long pixel chunks.
func TestDWConvTilesPerThread(t *testing.T) {
	saved := dwMinBlocks
	dwMinBlocks = 1
	t.Cleanup(func() { dwMinBlocks = saved })
	for i, s := range []kernels.DWConvShape{
		{N: 3, H: 20, W: 18, C: 37, K: 7, Stride: 1}, // 75 tiles, 48 per chunk
		{N: 2, H: 13, W: 11, C: 3, K: 3, Stride: 2},
		{N: 2, H: 9, W: 8, C: 5, K: 13, Stride: 1},
	} {
		t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", s.K, s.Stride, s.N, s.H, s.W, s.C), func(t *testing.T) {
			checkLayer(t, uint64(300+i), dwConvLayer(s), layerAll)
		})
	}
}

// TestDWConvErrors checks that bad shapes, mismatched, missing and host
// tensors are errors wrapping ErrShape or ErrDType, not crashes.
func TestDWConvErrors(t *testing.T) {
	p := newPair(t, 9)
	s := kernels.DWConvShape{N: 1, H: 4, W: 4, C: 3, K: 3, Stride: 1}
	_, x := p.in(s.XShape(), 1)
	_, w := p.in(s.WShape(), 1)
	_, y := p.in(s.YShape(), 1)
	_, dw := p.in(s.WShape(), 1)
	hostX, _ := p.in(s.XShape(), 1)
	even := s
	even.K = 4
	wantErrors(t, []errCase{
		{"even K", p.gpu.DWConv(y, x, w, kernels.Tensor{}, even), kernels.ErrShape},
		{"zero stride", p.gpu.DWConv(y, x, w, kernels.Tensor{}, kernels.DWConvShape{N: 1, H: 4, W: 4, C: 3, K: 3}), kernels.ErrShape},
		{"y shape", p.gpu.DWConv(x, x, dw, kernels.Tensor{}, kernels.DWConvShape{N: 1, H: 4, W: 4, C: 3, K: 3, Stride: 2}), kernels.ErrShape},
		{"bias shape", p.gpu.DWConv(y, x, w, w, s), kernels.ErrShape},
		{"nil x", p.gpu.DWConv(y, kernels.Tensor{}, w, kernels.Tensor{}, s), kernels.ErrShape},
		{"host x", p.gpu.DWConv(y, hostX, w, kernels.Tensor{}, s), kernels.ErrDType},
		{"backward nil dw", p.gpu.DWConvBackward(kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, y, x, w, s), kernels.ErrShape},
		{"backward dy shape", p.gpu.DWConvBackward(kernels.Tensor{}, dw, kernels.Tensor{}, w, x, w, s), kernels.ErrShape},
		{"backward host x", p.gpu.DWConvBackward(kernels.Tensor{}, dw, kernels.Tensor{}, y, hostX, w, s), kernels.ErrDType},
		{"backward even K", p.gpu.DWConvBackward(kernels.Tensor{}, dw, kernels.Tensor{}, y, x, w, even), kernels.ErrShape},
	})
}
