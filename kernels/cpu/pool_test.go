package cpu

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestAvgPoolHandValues(t *testing.T) {
	for _, b := range backends() {
		s := kernels.PoolShape{N: 2, HW: 3, C: 2}
		x := newT(t, b, kernels.Shape{2, 3, 2}, []float64{1, 10, 2, 20, 3, 30, -1, 0, -2, 0, -6, 3})
		y := newT(t, b, kernels.Shape{2, 2}, nil)
		must(t, b.AvgPool(y, x, s))
		testutil.AllClose(t, b.Name()+" avgpool", vals(y), []float64{2, 20, -3, 1}, 1e-7, 0)
		dx := newT(t, b, kernels.Shape{2, 3, 2}, nil)
		must(t, b.AvgPoolBackward(dx, newT(t, b, kernels.Shape{2, 2}, []float64{3, -6, 0.75, 1.5}), s))
		testutil.AllClose(t, b.Name()+" avgpool backward", vals(dx),
			[]float64{1, -2, 1, -2, 1, -2, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5}, 1e-7, 0)
	}
}

func TestAvgPoolGradient(t *testing.T) {
	b := New64()
	s := kernels.PoolShape{N: 2, HW: 35, C: 3}
	x := newT(t, b, kernels.Shape{2, 35, 3}, randVals(141, 2*35*3, 2))
	y := newT(t, b, kernels.Shape{2, 3}, nil)
	r := randVals(142, 6, 1)
	loss := func() float64 {
		must(t, b.AvgPool(y, x, s))
		return dot(vals(y), r)
	}
	dx := newT(t, b, kernels.Shape{2, 35, 3}, nil)
	must(t, b.AvgPoolBackward(dx, newT(t, b, kernels.Shape{2, 3}, r), s))
	checkGrad(t, "avgpool dx", x, vals(dx), loss)
}

func TestAvgPoolFloat32MatchesFloat64(t *testing.T) {
	s := kernels.PoolShape{N: 5, HW: 49, C: 32}
	agree(t, "avgpool f32 vs f64", 1e-5, 1e-6, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, y := newT(t, b, kernels.Shape{5, 49, 32}, randVals(143, 5*49*32, 3)), newT(t, b, kernels.Shape{5, 32}, nil)
		return []kernels.Tensor{y}, func() error { return b.AvgPool(y, x, s) }
	})
}

func TestAvgPoolErrors(t *testing.T) {
	b := New()
	s := kernels.PoolShape{N: 2, HW: 3, C: 4}
	x, y := newT(t, b, kernels.Shape{2, 3, 4}, nil), newT(t, b, kernels.Shape{2, 4}, nil)
	wantErr(t, "bad N", b.AvgPool(y, x, kernels.PoolShape{N: 0, HW: 3, C: 4}), kernels.ErrShape, "avgpool", "N")
	wantErr(t, "wrong y", b.AvgPool(x, x, s), kernels.ErrShape, "y", "[2 3 4]", "[2 4]")
	wantErr(t, "backward nil dx", b.AvgPoolBackward(kernels.Tensor{}, y, s), kernels.ErrShape, "avgpool backward", "dx is missing")
	wantErr(t, "backward float64 dy", b.AvgPoolBackward(x, newT(t, New64(), kernels.Shape{2, 4}, nil), s), kernels.ErrDType, "dy")
}
