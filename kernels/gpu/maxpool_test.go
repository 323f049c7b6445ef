package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// maxPoolShapes: ResNet's stem pool (3×3, stride 2, pad 1) on odd sides and
// an odd channel count, H = 1 and W = 1 (every window clipped by the
// padding), non-overlapping 2×2 windows, stride 1 (each input in up to 9
// windows), a 5×5 window with stride 3 whose last window is clipped, and
// a single channel.
var maxPoolShapes = []kernels.MaxPoolShape{
	{N: 2, H: 9, W: 7, C: 37, K: 3, Stride: 2, Pad: 1},
	{N: 3, H: 1, W: 6, C: 5, K: 3, Stride: 2, Pad: 1},
	{N: 1, H: 5, W: 1, C: 3, K: 3, Stride: 1, Pad: 1},
	{N: 2, H: 6, W: 8, C: 9, K: 2, Stride: 2, Pad: 0},
	{N: 1, H: 7, W: 5, C: 13, K: 3, Stride: 1, Pad: 1},
	{N: 2, H: 11, W: 10, C: 7, K: 5, Stride: 3, Pad: 2},
	{N: 4, H: 4, W: 4, C: 1, K: 3, Stride: 2, Pad: 1},
}

// maxPoolInput returns n values on a grid of 5 levels, so that most windows
// hold ties (the first maximum must win on both backends), with a NaN and a
// −Inf every 61 and 67 elements when special is set.
func (p *pair) maxPoolInput(n int, special bool) []float32 {
	v := p.randVals(n, 1)
	for i := range v {
		v[i] = float32(math.Round(float64(v[i]) * 2))
		if special && i%61 == 17 {
			v[i] = float32(math.NaN())
		}
		if special && i%67 == 5 {
			v[i] = float32(math.Inf(-1))
		}
	}
	return v
}

// TestMaxPoolMatchesCPU runs the forward and backward of every shape on
// both backends, with ties, NaN and −Inf in the input, and requires equal
// results bit for bit: maxima are exact, and each dx sum is formed in the
// same order (row-major over the outputs) by the CPU's scatter and the
// kernel's gather. The output tensors start as NaN on the device, so an
// element a kernel leaves unwritten fails.
func TestMaxPoolMatchesCPU(t *testing.T) {
	p := newPair(t, 23)
	for _, special := range []bool{false, true} {
		for _, s := range maxPoolShapes {
			oh, ow := s.Out()
			in, out := kernels.Shape{s.N, s.H, s.W, s.C}, kernels.Shape{s.N, oh, ow, s.C}
			name := fmt.Sprintf("%+v special=%v", s, special)
			xc, xg := p.from(in, p.maxPoolInput(in.Len(), special))
			yc, yg := p.out(out)
			p.ok(p.cpu.MaxPool(yc, xc, s))
			p.ok(p.gpu.MaxPool(yg, xg, s))
			p.same("maxpool "+name, yc, yg, 0, 0, testutil.NaNEqual)
			dyc, dyg := p.in(out, 2)
			dxc, dxg := p.out(in)
			p.ok(p.cpu.MaxPoolBackward(dxc, dyc, xc, s))
			p.ok(p.gpu.MaxPoolBackward(dxg, dyg, xg, s))
			p.same("maxpool backward "+name, dxc, dxg, 0, 0)
		}
	}
}

// TestBF16MaxPool checks the bf16 kernels against the CPU emulation: the
// maxima are stored exactly and each dx sum is rounded once, so the
// results are equal or one bf16 ulp apart (same16).
func TestBF16MaxPool(t *testing.T) {
	p := newPair(t, 24)
	for _, s := range maxPoolShapes {
		oh, ow := s.Out()
		in, out := kernels.Shape{s.N, s.H, s.W, s.C}, kernels.Shape{s.N, oh, ow, s.C}
		xc, xg := p.from16(in, p.maxPoolInput(in.Len(), false))
		yc, yg := p.out16(out)
		p.ok(p.cpu.MaxPool(yc, xc, s))
		p.ok(p.gpu.MaxPool(yg, xg, s))
		p.same16(fmt.Sprintf("maxpool %+v", s), yc, yg, 0)
		dyc, dyg := p.in16(out, 2)
		dxc, dxg := p.out16(in)
		p.ok(p.cpu.MaxPoolBackward(dxc, dyc, xc, s))
		p.ok(p.gpu.MaxPoolBackward(dxg, dyg, xg, s))
		p.same16(fmt.Sprintf("maxpool backward %+v", s), dxc, dxg, 0)
	}
}

func TestMaxPoolErrors(t *testing.T) {
	p := newPair(t, 25)
	s := kernels.MaxPoolShape{N: 2, H: 5, W: 5, C: 3, K: 3, Stride: 2, Pad: 1}
	_, x := p.in(kernels.Shape{2, 5, 5, 3}, 1)
	_, y := p.out(kernels.Shape{2, 3, 3, 3})
	_, short := p.out(kernels.Shape{2, 3, 2, 3})
	_, y16 := p.out16(kernels.Shape{2, 3, 3, 3})
	hostY, _ := p.cpu.Alloc(kernels.Shape{2, 3, 3, 3})
	big := s
	big.Pad = 2
	wantErrors(t, []errCase{
		{"pad above K/2", p.gpu.MaxPool(y, x, big), kernels.ErrShape},
		{"zero stride", p.gpu.MaxPool(y, x, kernels.MaxPoolShape{N: 2, H: 5, W: 5, C: 3, K: 3, Pad: 1}), kernels.ErrShape},
		{"short y", p.gpu.MaxPool(short, x, s), kernels.ErrShape},
		{"host y", p.gpu.MaxPool(hostY, x, s), kernels.ErrDType},
		{"bf16 y of a float32 x", p.gpu.MaxPool(y16, x, s), kernels.ErrDType},
		{"backward short dy", p.gpu.MaxPoolBackward(x, short, x, s), kernels.ErrShape},
		{"backward host dy", p.gpu.MaxPoolBackward(x, hostY, x, s), kernels.ErrDType},
	})
}
