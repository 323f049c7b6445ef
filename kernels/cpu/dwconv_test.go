package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestDWConvGradients(t *testing.T) {
	type tc struct {
		s        kernels.DWConvShape
		bias, dx bool
		name     string
	}
	var cases []tc
	for _, k := range []int{3, 5, 7, 9} {
		for _, st := range []int{1, 2} {
			for _, hw := range [][2]int{{5, 7}, {1, 6}, {4, 1}} {
				s := kernels.DWConvShape{N: 2, H: hw[0], W: hw[1], C: 3, K: k, Stride: st}
				cases = append(cases, tc{s: s, bias: true, dx: true})
			}
		}
	}
	cases = append(cases,
		tc{s: kernels.DWConvShape{N: 2, H: 5, W: 7, C: 3, K: 3, Stride: 1}, name: "no bias, no dx"},
		tc{s: kernels.DWConvShape{N: 1, H: 6, W: 5, C: 11, K: 7, Stride: 2}, bias: true, dx: true},
	)
	for i, c := range cases {
		t.Run(shapeName(c.s)+c.name, func(t *testing.T) {
			be := New64()
			rng := testutil.NewRand(uint64(100 + i))
			s := c.s
			x := newT(t, be, s.XShape(), testutil.Rand64(rng, s.XShape().Len(), 1))
			w := newT(t, be, s.WShape(), testutil.Rand64(rng, s.WShape().Len(), 1))
			var b, dx, db kernels.Tensor
			if c.bias {
				b = newT(t, be, kernels.Shape{s.C}, testutil.Rand64(rng, s.C, 1))
				db = newT(t, be, kernels.Shape{s.C}, nil)
			}
			if c.dx {
				dx = newT(t, be, s.XShape(), nil)
			}
			dw := newT(t, be, s.WShape(), nil)
			params := []gradParam{
				{name: "x", value: x, grad: dx, overwrite: true},
				{name: "w", value: w, grad: dw},
				{name: "b", value: b, grad: db},
			}
			gradCheck(t, uint64(i), s.YShape(), params,
				func(y kernels.Tensor) error { return be.DWConv(y, x, w, b, s) },
				func(dy kernels.Tensor) error { return be.DWConvBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}

// dwconv32Shapes are odd shapes for the float32 checks: channel counts that
// are not multiples of the vector width, strides 1 and 2, images smaller
// than the kernel.
var dwconv32Shapes = []kernels.DWConvShape{
	{N: 3, H: 9, W: 11, C: 19, K: 7, Stride: 1},
	{N: 2, H: 10, W: 7, C: 37, K: 7, Stride: 2},
	{N: 2, H: 5, W: 6, C: 8, K: 3, Stride: 1},
	{N: 1, H: 3, W: 2, C: 40, K: 7, Stride: 1},
	{N: 2, H: 13, W: 9, C: 5, K: 5, Stride: 2},
	{N: 1, H: 1, W: 1, C: 17, K: 9, Stride: 1},
}

func TestDWConvFloat32MatchesReference(t *testing.T) {
	be := New()
	for i, s := range dwconv32Shapes {
		rng := testutil.NewRand(uint64(200 + i))
		xv := roundTo32(testutil.Rand64(rng, s.XShape().Len(), 1))
		wv := roundTo32(testutil.Rand64(rng, s.WShape().Len(), 1))
		bv := roundTo32(testutil.Rand64(rng, s.C, 1))
		x, w := newT(t, be, s.XShape(), xv), newT(t, be, s.WShape(), wv)
		for _, withBias := range []bool{true, false} {
			var b kernels.Tensor
			var bref []float64
			if withBias {
				b, bref = newT(t, be, kernels.Shape{s.C}, bv), bv
			}
			y := newT(t, be, s.YShape(), nil)
			for j := range y.Host32() {
				y.Host32()[j] = float32(math.NaN()) // must be overwritten
			}
			if err := be.DWConv(y, x, w, b, s); err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "dwconv y "+shapeName(s), y.Host32(), refDWConv(xv, wv, bref, s), 1e-5, 1e-5)
		}
	}
}

// TestDWConvFloat32BackwardMatchesFloat64 checks the float32 backward (the
// training path, with its vector kernels) against the float64 one, which
// TestDWConvGradients checks against finite differences.
func TestDWConvFloat32BackwardMatchesFloat64(t *testing.T) {
	for i, s := range dwconv32Shapes {
		rng := testutil.NewRand(uint64(300 + i))
		xv := roundTo32(testutil.Rand64(rng, s.XShape().Len(), 1))
		wv := roundTo32(testutil.Rand64(rng, s.WShape().Len(), 1))
		dyv := roundTo32(testutil.Rand64(rng, s.YShape().Len(), 1))
		var got, want [3][]float64
		for k, be := range []*Backend{New(), New64()} {
			x, w := newT(t, be, s.XShape(), xv), newT(t, be, s.WShape(), wv)
			dy := newT(t, be, s.YShape(), dyv)
			dx := newT(t, be, s.XShape(), nil)
			dw := newT(t, be, s.WShape(), nil)
			db := newT(t, be, kernels.Shape{s.C}, nil)
			if err := be.DWConvBackward(dx, dw, db, dy, x, w, s); err != nil {
				t.Fatal(err)
			}
			res := [3][]float64{vals(dx), vals(dw), vals(db)}
			if k == 0 {
				got = res
			} else {
				want = res
			}
		}
		name := shapeName(s)
		testutil.AllClose(t, "dx "+name, got[0], want[0], 1e-5, 1e-5)
		testutil.AllClose(t, "dw "+name, got[1], want[1], 1e-5, 1e-4)
		testutil.AllClose(t, "db "+name, got[2], want[2], 1e-5, 1e-4)
	}
}

func TestDWConvBackwardDeterministic(t *testing.T) {
	be := New()
	s := kernels.DWConvShape{N: 4, H: 28, W: 28, C: 40, K: 7, Stride: 1}
	rng := testutil.NewRand(7)
	x := newT(t, be, s.XShape(), testutil.Rand64(rng, s.XShape().Len(), 1))
	w := newT(t, be, s.WShape(), testutil.Rand64(rng, s.WShape().Len(), 1))
	dy := newT(t, be, s.YShape(), testutil.Rand64(rng, s.YShape().Len(), 1))
	var first []float32
	for range 3 {
		dw := newT(t, be, s.WShape(), nil)
		if err := be.DWConvBackward(kernels.Tensor{}, dw, kernels.Tensor{}, dy, x, w, s); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = append([]float32(nil), dw.Host32()...)
			continue
		}
		for i, v := range dw.Host32() {
			if v != first[i] {
				t.Fatalf("dw[%d] = %v, earlier run %v: summation order is not fixed", i, v, first[i])
			}
		}
	}
}

// convDeviceStorage is float32 storage that does not live in host memory.
type convDeviceStorage struct{ n int }

func (f convDeviceStorage) Len() int                         { return f.n }
func (f convDeviceStorage) DType() kernels.DType             { return kernels.Float32 }
func (f convDeviceStorage) Slice(off, n int) kernels.Storage { return convDeviceStorage{n} }

func TestDWConvErrors(t *testing.T) {
	be := New()
	s := kernels.DWConvShape{N: 2, H: 5, W: 7, C: 3, K: 3, Stride: 1}
	x := newT(t, be, s.XShape(), nil)
	w := newT(t, be, s.WShape(), nil)
	y := newT(t, be, s.YShape(), nil)
	bias := newT(t, be, kernels.Shape{s.C}, nil)
	wrongY := newT(t, be, kernels.Shape{2, 5, 7, 4}, nil)
	x64 := newT(t, New64(), s.XShape(), nil)
	fake := kernels.Tensor{Shape: s.XShape(), Data: convDeviceStorage{s.XShape().Len()}}

	wantErr(t, "wrong y", be.DWConv(wrongY, x, w, bias, s), kernels.ErrShape, "dwconv", "y has shape [2 5 7 4], want [2 5 7 3]")
	wantErr(t, "nil x", be.DWConv(y, kernels.Tensor{}, w, bias, s), kernels.ErrShape, "dwconv", "x is missing")
	wantErr(t, "float64 x", be.DWConv(y, x64, w, bias, s), kernels.ErrDType, "dwconv", "x")
	wantErr(t, "device x", be.DWConv(y, fake, w, bias, s), kernels.ErrDType, "dwconv", "x")
	even := s
	even.K = 4
	wantErr(t, "even K", be.DWConv(y, x, w, bias, even), kernels.ErrShape, "dwconv", "odd")
	zero := s
	zero.C = 0
	wantErr(t, "zero C", be.DWConv(y, x, w, bias, zero), kernels.ErrShape, "dwconv")
	wantErr(t, "wrong bias", be.DWConv(y, x, w, newT(t, be, kernels.Shape{4}, nil), s), kernels.ErrShape, "b has shape [4], want [3]")

	dw := newT(t, be, s.WShape(), nil)
	s2 := s
	s2.Stride = 2
	wantErr(t, "backward stride-2 dy", be.DWConvBackward(x, dw, bias, y, x, w, s2), kernels.ErrShape,
		"dwconv backward", "dy has shape [2 5 7 3], want [2 3 4 3]")
	wantErr(t, "backward nil dw", be.DWConvBackward(x, kernels.Tensor{}, bias, y, x, w, s), kernels.ErrShape, "dw is missing")
	wantErr(t, "backward float64 dx", be.DWConvBackward(x64, dw, bias, y, x, w, s), kernels.ErrDType, "dx")
}
