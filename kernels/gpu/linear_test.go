package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// linearLayer is Linear at s for checkLayer.
func linearLayer(s kernels.LinearShape) layerCase {
	x, w, y := kernels.Shape{s.Rows, s.In}, kernels.Shape{s.Out, s.In}, kernels.Shape{s.Rows, s.Out}
	return newLayerCase(s, x, w, y, s.Out, kernels.Backend.Linear, kernels.Backend.LinearBackward)
}

// TestLinear covers odd row counts, a single row, the 4× expansion and
// projection of a scaled-down ConvNeXt block, and enough rows (301) that
// the bias gradient takes its two-pass path.
func TestLinear(t *testing.T) {
	cases := []kernels.LinearShape{
		{Rows: 37, In: 5, Out: 161},
		{Rows: 1, In: 3, Out: 2},
		{Rows: 2 * 7 * 7, In: 40, Out: 160},
		{Rows: 2 * 7 * 7, In: 160, Out: 40},
		{Rows: 301, In: 7, Out: 5},
		{Rows: 33, In: 1, Out: 1},
	}
	for i, s := range cases {
		t.Run(fmt.Sprintf("%dx%d_to_%d", s.Rows, s.In, s.Out), func(t *testing.T) {
			checkLayer(t, uint64(700+i), linearLayer(s), layerAll)
		})
	}
}

// TestLinearOptional leaves out the bias, dx and db in turn.
func TestLinearOptional(t *testing.T) {
	s := kernels.LinearShape{Rows: 75, In: 6, Out: 9}
	for i, o := range []layerOpts{{dx: true, db: true}, {bias: true, db: true}, {bias: true, dx: true}, {}} {
		t.Run(fmt.Sprintf("bias%v_dx%v_db%v", o.bias, o.dx, o.db), func(t *testing.T) {
			checkLayer(t, uint64(800+i), linearLayer(s), o)
		})
	}
}

// TestLinearErrors checks that bad shapes, mismatched, missing and host
// tensors are errors wrapping ErrShape or ErrDType.
func TestLinearErrors(t *testing.T) {
	p := newPair(t, 11)
	s := kernels.LinearShape{Rows: 3, In: 4, Out: 5}
	_, x := p.in(kernels.Shape{3, 4}, 1)
	_, w := p.in(kernels.Shape{5, 4}, 1)
	_, y := p.in(kernels.Shape{3, 5}, 1)
	_, dw := p.in(kernels.Shape{5, 4}, 1)
	hostDY, _ := p.in(kernels.Shape{3, 5}, 1)
	wantErrors(t, []errCase{
		{"zero rows", p.gpu.Linear(y, x, w, kernels.Tensor{}, kernels.LinearShape{In: 4, Out: 5}), kernels.ErrShape},
		{"y shape", p.gpu.Linear(x, x, w, kernels.Tensor{}, s), kernels.ErrShape},
		{"bias shape", p.gpu.Linear(y, x, w, x, s), kernels.ErrShape},
		{"nil w", p.gpu.Linear(y, x, kernels.Tensor{}, kernels.Tensor{}, s), kernels.ErrShape},
		{"backward nil dw", p.gpu.LinearBackward(kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, y, x, w, s), kernels.ErrShape},
		{"backward db shape", p.gpu.LinearBackward(kernels.Tensor{}, dw, x, y, x, w, s), kernels.ErrShape},
		{"backward host dy", p.gpu.LinearBackward(kernels.Tensor{}, dw, kernels.Tensor{}, hostDY, x, w, s), kernels.ErrDType},
	})
}
