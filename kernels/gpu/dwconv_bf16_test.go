package gpu

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// dwCheckPair16 runs DWConv and DWConvBackward on bf16 x, y, dy and dx
// against the CPU emulation (bf16_test.go): y and dx within one bf16 ulp
// (or the float32 test's 1e-5 near zero), the float32 dw and db within the
// float32 tests' tolerances (checkLayer). dw and db start from the same
// non-zero values on both backends, so overwriting instead of accumulating
// fails.
func dwCheckPair16(p *pair, s kernels.DWConvShape, o layerOpts) {
	p.t.Helper()
	xc, xg := p.in16(s.XShape(), 1)
	wc, wg := p.in(s.WShape(), 1)
	var bc, bg kernels.Tensor
	if o.bias {
		bc, bg = p.in(kernels.Shape{s.C}, 1)
	}
	yc, yg := p.out16(s.YShape())
	p.ok(p.cpu.DWConv(yc, xc, wc, bc, s))
	p.ok(p.gpu.DWConv(yg, xg, wg, bg, s))
	p.same16("y", yc, yg, 1e-5)

	dyc, dyg := p.in16(s.YShape(), 1)
	var dxc, dxg, dbc, dbg kernels.Tensor
	if o.dx {
		dxc, dxg = p.out16(s.XShape())
	}
	dwc, dwg := p.acc(s.WShape())
	if o.db {
		dbc, dbg = p.acc(kernels.Shape{s.C})
	}
	p.ok(p.cpu.DWConvBackward(dxc, dwc, dbc, dyc, xc, wc, s))
	p.ok(p.gpu.DWConvBackward(dxg, dwg, dbg, dyg, xg, wg, s))
	if o.dx {
		p.same16("dx", dxc, dxg, 1e-5)
	}
	p.same("dw", dwc, dwg, 1e-4, 1e-4)
	if o.db {
		p.same("db", dbc, dbg, 1e-4, 1e-4)
	}
}

// TestBF16DWConvTiled checks the tiled bf16 kernels, every compiled (K,
// stride) pair, against the CPU emulation: odd channel counts (13, 35),
// images one pixel high or wide, sizes that leave partial 4×4 tiles, and
// a channel count that is a multiple of 8 (C = 16).
func TestBF16DWConvTiled(t *testing.T) {
	p := newPair(t, 71)
	sizes := []struct{ N, H, W, C int }{
		{2, 9, 6, 13},
		{1, 1, 7, 35},
		{2, 6, 1, 16},
	}
	for _, k := range []int{3, 5, 7, 9} {
		for _, stride := range []int{1, 2} {
			for _, z := range sizes {
				s := kernels.DWConvShape{N: z.N, H: z.H, W: z.W, C: z.C, K: k, Stride: stride}
				if !dwTiled(s) {
					t.Fatalf("%+v should take the tiled kernels", s)
				}
				t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", k, stride, z.N, z.H, z.W, z.C), func(t *testing.T) {
					p.t = t
					dwCheckPair16(p, s, layerAll)
				})
			}
		}
	}
}

// TestBF16DWConvShapes checks a scaled-down ConvNeXt stage, more channels
// than one weight-gradient block takes, the generic bf16 kernels (K = 11,
// stride 3, K = 1) and a 1×1 image at stride 2 against the CPU emulation,
// and leaves out the bias, dx and db in turn.
func TestBF16DWConvShapes(t *testing.T) {
	p := newPair(t, 73)
	cases := []struct {
		s kernels.DWConvShape
		o layerOpts
	}{
		{kernels.DWConvShape{N: 2, H: 14, W: 14, C: 40, K: 7, Stride: 1}, layerAll},
		{kernels.DWConvShape{N: 1, H: 5, W: 6, C: 161, K: 9, Stride: 1}, layerAll},
		{kernels.DWConvShape{N: 2, H: 7, W: 9, C: 13, K: 11, Stride: 1}, layerAll},
		{kernels.DWConvShape{N: 1, H: 8, W: 7, C: 35, K: 3, Stride: 3}, layerAll},
		{kernels.DWConvShape{N: 2, H: 5, W: 1, C: 6, K: 1, Stride: 1}, layerAll},
		{kernels.DWConvShape{N: 1, H: 1, W: 1, C: 7, K: 5, Stride: 2}, layerAll},
		{kernels.DWConvShape{N: 2, H: 6, W: 5, C: 9, K: 7, Stride: 1}, layerOpts{dx: true, db: true}},
		{kernels.DWConvShape{N: 2, H: 6, W: 5, C: 9, K: 7, Stride: 1}, layerOpts{bias: true}},
		{kernels.DWConvShape{N: 1, H: 6, W: 5, C: 9, K: 11, Stride: 2}, layerOpts{bias: true, dx: true}},
	}
	for _, c := range cases {
		s := c.s
		t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d_bias%v_dx%v_db%v", s.K, s.Stride, s.N, s.H, s.W, s.C, c.o.bias, c.o.dx, c.o.db), func(t *testing.T) {
			p.t = t
			dwCheckPair16(p, s, c.o)
		})
	}
}

// TestBF16DWConvTilesPerThread makes the bf16 weight-gradient threads sum
// several tiles (tiled) and long pixel chunks (generic).
func TestBF16DWConvTilesPerThread(t *testing.T) {
	saved := dwMinBlocks
	dwMinBlocks = 1
	t.Cleanup(func() { dwMinBlocks = saved })
	p := newPair(t, 79)
	for _, s := range []kernels.DWConvShape{
		{N: 3, H: 20, W: 18, C: 13, K: 7, Stride: 1},
		{N: 2, H: 9, W: 8, C: 5, K: 13, Stride: 1},
	} {
		t.Run(fmt.Sprintf("K%d_S%d_%dx%dx%dx%d", s.K, s.Stride, s.N, s.H, s.W, s.C), func(t *testing.T) {
			p.t = t
			dwCheckPair16(p, s, layerAll)
		})
	}
}

// TestBF16DWConvErrors: activations of mixed dtypes, and a bf16 weight or
// weight gradient, are errors wrapping ErrDType that name the tensor.
func TestBF16DWConvErrors(t *testing.T) {
	p := newPair(t, 83)
	s := kernels.DWConvShape{N: 1, H: 4, W: 4, C: 3, K: 3, Stride: 1}
	_, x16 := p.in16(s.XShape(), 1)
	_, y16 := p.in16(s.YShape(), 1)
	_, y32 := p.in(s.YShape(), 1)
	_, w := p.in(s.WShape(), 1)
	_, w16 := p.in16(s.WShape(), 1)
	for _, c := range []struct {
		name, want string
		err        error
	}{
		{"mixed y", "y is float32", p.gpu.DWConv(y32, x16, w, kernels.Tensor{}, s)},
		{"bf16 w", "w is bfloat16", p.gpu.DWConv(y16, x16, w16, kernels.Tensor{}, s)},
		{"mixed dy", "dy is float32", p.gpu.DWConvBackward(x16, w, kernels.Tensor{}, y32, x16, w, s)},
		{"bf16 dw", "dw is bfloat16", p.gpu.DWConvBackward(kernels.Tensor{}, w16, kernels.Tensor{}, y16, x16, w, s)},
	} {
		if !errors.Is(c.err, kernels.ErrDType) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error wrapping ErrDType containing %q", c.name, c.err, c.want)
		}
	}
}
