package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// conv2dGradShapes cover the patch path (K == Stride, Pad 0; tiling the
// input or leaving a remainder) and the general im2col path.
var conv2dGradShapes = []kernels.ConvShape{
	{N: 2, H: 5, W: 7, CIn: 3, COut: 4, K: 2, Stride: 2},
	{N: 2, H: 4, W: 6, CIn: 3, COut: 2, K: 2, Stride: 2},
	{N: 2, H: 8, W: 9, CIn: 2, COut: 3, K: 4, Stride: 4},
	{N: 1, H: 4, W: 4, CIn: 1, COut: 5, K: 4, Stride: 4},
	{N: 2, H: 5, W: 7, CIn: 3, COut: 4, K: 3, Stride: 2, Pad: 1},
	{N: 2, H: 5, W: 7, CIn: 3, COut: 2, K: 3, Stride: 1, Pad: 1},
	{N: 2, H: 6, W: 5, CIn: 2, COut: 3, K: 4, Stride: 3, Pad: 2},
	{N: 1, H: 1, W: 3, CIn: 2, COut: 2, K: 3, Stride: 1, Pad: 1},
	{N: 2, H: 5, W: 4, CIn: 2, COut: 3, K: 2, Stride: 2, Pad: 1},
	{N: 2, H: 3, W: 2, CIn: 2, COut: 2, K: 2, Stride: 1, Pad: 2},            // border rows see only padding
	{N: 2, H: 5, W: 7, CIn: 6, COut: 9, K: 3, Stride: 2, Pad: 1, Groups: 3}, // odd channels per group
	{N: 2, H: 4, W: 4, CIn: 4, COut: 4, K: 2, Stride: 2, Groups: 2},         // grouped patch path
	{N: 1, H: 1, W: 5, CIn: 3, COut: 6, K: 3, Stride: 1, Pad: 1, Groups: 3}, // H = 1, one input channel per group
	{N: 2, H: 3, W: 3, CIn: 4, COut: 2, K: 1, Stride: 1, Groups: 2},         // grouped 1×1
}

func TestConv2DGradients(t *testing.T) {
	for i, s := range conv2dGradShapes {
		for _, full := range []bool{true, false} {
			name := shapeName(s)
			if !full {
				name += "no-bias,no-dx"
			}
			t.Run(name, func(t *testing.T) {
				be := New64()
				rng := testutil.NewRand(uint64(400 + i))
				x := newT(t, be, s.XShape(), testutil.Rand64(rng, s.XShape().Len(), 1))
				w := newT(t, be, s.WShape(), testutil.Rand64(rng, s.WShape().Len(), 1))
				dw := newT(t, be, s.WShape(), nil)
				var b, dx, db kernels.Tensor
				if full {
					b = newT(t, be, kernels.Shape{s.COut}, testutil.Rand64(rng, s.COut, 1))
					dx = newT(t, be, s.XShape(), nil)
					db = newT(t, be, kernels.Shape{s.COut}, nil)
				}
				params := []gradParam{
					{name: "x", value: x, grad: dx, overwrite: true},
					{name: "w", value: w, grad: dw},
					{name: "b", value: b, grad: db},
				}
				gradCheck(t, uint64(i), s.YShape(), params,
					func(y kernels.Tensor) error { return be.Conv2D(y, x, w, b, s) },
					func(dy kernels.Tensor) error { return be.Conv2DBackward(dx, dw, db, dy, x, w, s) })
			})
		}
	}
}

// TestConv2DChunked shrinks the im2col budget so that the batch is cut into
// chunks of one output row, chunks that split images included, and checks
// the gradients again.
func TestConv2DChunked(t *testing.T) {
	defer func(old int) { convColBytes = old }(convColBytes)
	convColBytes = 1
	for i, s := range conv2dGradShapes {
		t.Run(shapeName(s), func(t *testing.T) {
			be := New64()
			rng := testutil.NewRand(uint64(500 + i))
			x := newT(t, be, s.XShape(), testutil.Rand64(rng, s.XShape().Len(), 1))
			w := newT(t, be, s.WShape(), testutil.Rand64(rng, s.WShape().Len(), 1))
			b := newT(t, be, kernels.Shape{s.COut}, testutil.Rand64(rng, s.COut, 1))
			dx := newT(t, be, s.XShape(), nil)
			dw := newT(t, be, s.WShape(), nil)
			db := newT(t, be, kernels.Shape{s.COut}, nil)
			params := []gradParam{
				{name: "x", value: x, grad: dx, overwrite: true},
				{name: "w", value: w, grad: dw},
				{name: "b", value: b, grad: db},
			}
			gradCheck(t, uint64(i), s.YShape(), params,
				func(y kernels.Tensor) error { return be.Conv2D(y, x, w, b, s) },
				func(dy kernels.Tensor) error { return be.Conv2DBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}

var conv2d32Shapes = []kernels.ConvShape{
	{N: 3, H: 17, W: 13, CIn: 3, COut: 7, K: 4, Stride: 4},
	{N: 2, H: 9, W: 11, CIn: 13, COut: 9, K: 2, Stride: 2},
	{N: 2, H: 9, W: 7, CIn: 5, COut: 6, K: 3, Stride: 2, Pad: 1},
	{N: 1, H: 6, W: 5, CIn: 4, COut: 3, K: 5, Stride: 1, Pad: 2},
	{N: 4, H: 30, W: 29, CIn: 16, COut: 8, K: 3, Stride: 1, Pad: 1}, // large enough to run in parallel
	{N: 2, H: 15, W: 13, CIn: 10, COut: 15, K: 3, Stride: 2, Pad: 1, Groups: 5},
	{N: 1, H: 23, W: 21, CIn: 3, COut: 8, K: 7, Stride: 2, Pad: 3}, // the ResNet stem's geometry
}

func TestConv2DFloat32MatchesReference(t *testing.T) {
	be := New()
	for i, s := range conv2d32Shapes {
		rng := testutil.NewRand(uint64(600 + i))
		xv := roundTo32(testutil.Rand64(rng, s.XShape().Len(), 1))
		wv := roundTo32(testutil.Rand64(rng, s.WShape().Len(), 1))
		bv := roundTo32(testutil.Rand64(rng, s.COut, 1))
		x, w := newT(t, be, s.XShape(), xv), newT(t, be, s.WShape(), wv)
		for _, withBias := range []bool{true, false} {
			var b kernels.Tensor
			var bref []float64
			if withBias {
				b, bref = newT(t, be, kernels.Shape{s.COut}, bv), bv
			}
			y := newT(t, be, s.YShape(), nil)
			for j := range y.Host32() {
				y.Host32()[j] = float32(math.NaN())
			}
			if err := be.Conv2D(y, x, w, b, s); err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "conv2d y "+shapeName(s), y.Host32(), refConv2D(xv, wv, bref, s), 1e-5, 1e-5)
		}
	}
}

func TestConv2DFloat32BackwardMatchesFloat64(t *testing.T) {
	for i, s := range conv2d32Shapes {
		rng := testutil.NewRand(uint64(700 + i))
		xv := roundTo32(testutil.Rand64(rng, s.XShape().Len(), 1))
		wv := roundTo32(testutil.Rand64(rng, s.WShape().Len(), 1))
		dyv := roundTo32(testutil.Rand64(rng, s.YShape().Len(), 1))
		var res [2][3][]float64
		for k, be := range []*Backend{New(), New64()} {
			x, w := newT(t, be, s.XShape(), xv), newT(t, be, s.WShape(), wv)
			dy := newT(t, be, s.YShape(), dyv)
			dx := newT(t, be, s.XShape(), nil)
			dw := newT(t, be, s.WShape(), nil)
			db := newT(t, be, kernels.Shape{s.COut}, nil)
			if err := be.Conv2DBackward(dx, dw, db, dy, x, w, s); err != nil {
				t.Fatal(err)
			}
			res[k] = [3][]float64{vals(dx), vals(dw), vals(db)}
		}
		name := shapeName(s)
		testutil.AllClose(t, "dx "+name, res[0][0], res[1][0], 1e-5, 1e-5)
		testutil.AllClose(t, "dw "+name, res[0][1], res[1][1], 1e-5, 1e-4)
		testutil.AllClose(t, "db "+name, res[0][2], res[1][2], 1e-5, 1e-4)
	}
}

func TestConv2DErrors(t *testing.T) {
	be := New()
	s := kernels.ConvShape{N: 2, H: 8, W: 8, CIn: 3, COut: 4, K: 4, Stride: 4}
	x := newT(t, be, s.XShape(), nil)
	w := newT(t, be, s.WShape(), nil)
	y := newT(t, be, s.YShape(), nil)
	wrongW := newT(t, be, kernels.Shape{4, 3, 2, 2}, nil)
	y64 := newT(t, New64(), s.YShape(), nil)

	wantErr(t, "wrong w", be.Conv2D(y, x, wrongW, kernels.Tensor{}, s), kernels.ErrShape,
		"conv2d", "w has shape [4 3 2 2], want [4 3 4 4]")
	wantErr(t, "nil y", be.Conv2D(kernels.Tensor{}, x, w, kernels.Tensor{}, s), kernels.ErrShape, "conv2d", "y is missing")
	wantErr(t, "float64 y", be.Conv2D(y64, x, w, kernels.Tensor{}, s), kernels.ErrDType, "conv2d", "y")
	big := s
	big.K = 9
	wantErr(t, "kernel too big", be.Conv2D(y, x, w, kernels.Tensor{}, big), kernels.ErrShape, "conv2d", "does not fit")
	neg := s
	neg.Pad = -1
	wantErr(t, "negative pad", be.Conv2D(y, x, w, kernels.Tensor{}, neg), kernels.ErrShape, "conv2d")
	grouped := s
	grouped.Groups = 2
	wantErr(t, "groups not dividing CIn", be.Conv2D(y, x, w, kernels.Tensor{}, grouped), kernels.ErrShape,
		"conv2d", "groups 2 must be >= 0 and divide CIn 3 and COut 4")
	grouped.CIn, grouped.COut = 4, 4
	wantErr(t, "dense w for grouped conv", be.Conv2D(y, newT(t, be, kernels.Shape{2, 8, 8, 4}, nil), w, kernels.Tensor{}, grouped),
		kernels.ErrShape, "conv2d", "w has shape [4 3 4 4], want [4 2 4 4]")

	dw := newT(t, be, s.WShape(), nil)
	wantErr(t, "backward dy is x", be.Conv2DBackward(x, dw, kernels.Tensor{}, x, x, w, s), kernels.ErrShape,
		"conv2d backward", "dy has shape [2 8 8 3], want [2 2 2 4]")
	wantErr(t, "backward nil x", be.Conv2DBackward(x, dw, kernels.Tensor{}, y, kernels.Tensor{}, w, s), kernels.ErrShape,
		"conv2d backward", "x is missing")
	wantErr(t, "backward float64 db", be.Conv2DBackward(x, dw, newT(t, New64(), kernels.Shape{4}, nil), y, x, w, s),
		kernels.ErrDType, "conv2d backward", "db")
}
