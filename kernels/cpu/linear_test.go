package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestLinearGradients(t *testing.T) {
	shapes := []kernels.LinearShape{{Rows: 7, In: 5, Out: 3}, {Rows: 1, In: 1, Out: 4}, {Rows: 9, In: 11, Out: 1}}
	for i, s := range shapes {
		for _, full := range []bool{true, false} {
			name := shapeName(s)
			if !full {
				name += "no-bias,no-dx"
			}
			t.Run(name, func(t *testing.T) {
				be := New64()
				rng := testutil.NewRand(uint64(800 + i))
				x := newT(t, be, kernels.Shape{s.Rows, s.In}, testutil.Rand64(rng, s.Rows*s.In, 1))
				w := newT(t, be, kernels.Shape{s.Out, s.In}, testutil.Rand64(rng, s.Out*s.In, 1))
				dw := newT(t, be, kernels.Shape{s.Out, s.In}, nil)
				var b, dx, db kernels.Tensor
				if full {
					b = newT(t, be, kernels.Shape{s.Out}, testutil.Rand64(rng, s.Out, 1))
					dx = newT(t, be, kernels.Shape{s.Rows, s.In}, nil)
					db = newT(t, be, kernels.Shape{s.Out}, nil)
				}
				params := []gradParam{
					{name: "x", value: x, grad: dx, overwrite: true},
					{name: "w", value: w, grad: dw},
					{name: "b", value: b, grad: db},
				}
				gradCheck(t, uint64(i), kernels.Shape{s.Rows, s.Out}, params,
					func(y kernels.Tensor) error { return be.Linear(y, x, w, b, s) },
					func(dy kernels.Tensor) error { return be.LinearBackward(dx, dw, db, dy, x, w, s) })
			})
		}
	}
}

func TestLinearFloat32MatchesReference(t *testing.T) {
	be := New()
	for i, s := range []kernels.LinearShape{{Rows: 37, In: 19, Out: 23}, {Rows: 300, In: 40, Out: 160}, {Rows: 5, In: 3, Out: 1}} {
		rng := testutil.NewRand(uint64(900 + i))
		xv := roundTo32(testutil.Rand64(rng, s.Rows*s.In, 1))
		wv := roundTo32(testutil.Rand64(rng, s.Out*s.In, 1))
		bv := roundTo32(testutil.Rand64(rng, s.Out, 1))
		x := newT(t, be, kernels.Shape{s.Rows, s.In}, xv)
		w := newT(t, be, kernels.Shape{s.Out, s.In}, wv)
		for _, withBias := range []bool{true, false} {
			var b kernels.Tensor
			var bref []float64
			if withBias {
				b, bref = newT(t, be, kernels.Shape{s.Out}, bv), bv
			}
			y := newT(t, be, kernels.Shape{s.Rows, s.Out}, nil)
			for j := range y.Host32() {
				y.Host32()[j] = float32(math.NaN())
			}
			if err := be.Linear(y, x, w, b, s); err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "linear y "+shapeName(s), y.Host32(), refLinear(xv, wv, bref, s), 1e-5, 1e-5)
		}
	}
}

func TestLinearErrors(t *testing.T) {
	be := New()
	s := kernels.LinearShape{Rows: 6, In: 4, Out: 5}
	x := newT(t, be, kernels.Shape{6, 4}, nil)
	w := newT(t, be, kernels.Shape{5, 4}, nil)
	y := newT(t, be, kernels.Shape{6, 5}, nil)
	wt := newT(t, be, kernels.Shape{4, 5}, nil)

	wantErr(t, "wrong x", be.Linear(y, wt, w, kernels.Tensor{}, s), kernels.ErrShape, "linear", "x has shape [4 5], want [6 4]")
	wantErr(t, "nil w", be.Linear(y, x, kernels.Tensor{}, kernels.Tensor{}, s), kernels.ErrShape, "linear", "w is missing")
	wantErr(t, "float64 b", be.Linear(y, x, w, newT(t, New64(), kernels.Shape{5}, nil), s), kernels.ErrDType, "linear", "b")
	wantErr(t, "zero rows", be.Linear(y, x, w, kernels.Tensor{}, kernels.LinearShape{In: 4, Out: 5}), kernels.ErrShape, "linear", "Rows")

	dw := newT(t, be, kernels.Shape{5, 4}, nil)
	wantErr(t, "backward dy is x", be.LinearBackward(x, dw, kernels.Tensor{}, x, x, w, s), kernels.ErrShape,
		"linear backward", "dy has shape [6 4], want [6 5]")
	wantErr(t, "backward nil dw", be.LinearBackward(x, kernels.Tensor{}, kernels.Tensor{}, y, x, w, s), kernels.ErrShape,
		"linear backward", "dw is missing")
	wantErr(t, "backward float64 dx", be.LinearBackward(newT(t, New64(), kernels.Shape{6, 4}, nil), dw, kernels.Tensor{}, y, x, w, s),
		kernels.ErrDType, "linear backward", "dx")
}
