package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestAddScale(t *testing.T) {
	for _, b := range backends() {
		a := newT(t, b, kernels.Shape{2, 3}, []float64{1, 2, 3, 4, 5, 6})
		c := newT(t, b, kernels.Shape{6}, []float64{0.5, -2, 0, 1, 1, -6})
		y := newT(t, b, kernels.Shape{3, 2}, nil)
		must(t, b.Add(y, a, c))
		testutil.AllClose(t, b.Name()+" add", vals(y), []float64{1.5, 0, 3, 5, 6, 0}, 0, 0)
		must(t, b.Add(a, a, a)) // in place
		testutil.AllClose(t, b.Name()+" add in place", vals(a), []float64{2, 4, 6, 8, 10, 12}, 0, 0)
		must(t, b.Scale(a, a, -0.25))
		testutil.AllClose(t, b.Name()+" scale in place", vals(a), []float64{-0.5, -1, -1.5, -2, -2.5, -3}, 0, 0)
	}
}

func TestScaleSamples(t *testing.T) {
	for _, b := range backends() {
		x := newT(t, b, kernels.Shape{3, 2, 2}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
		s := newT(t, b, kernels.Shape{3}, []float64{0, 2, -0.5})
		y := newT(t, b, kernels.Shape{3, 2, 2}, nil)
		must(t, b.ScaleSamples(y, x, s))
		testutil.AllClose(t, b.Name()+" scale-samples", vals(y), []float64{0, 0, 0, 0, 10, 12, 14, 16, -4.5, -5, -5.5, -6}, 0, 0)
		must(t, b.ScaleSamples(x, x, s))
		testutil.AllClose(t, b.Name()+" scale-samples in place", vals(x), vals(y), 0, 0)
	}
}

func TestChannelScaleGradient(t *testing.T) {
	b := New64()
	rows, C := 2*35, 3
	x := newT(t, b, kernels.Shape{2, 35, C}, randVals(151, rows*C, 2))
	gamma := newT(t, b, kernels.Shape{C}, randVals(152, C, 1))
	y := newT(t, b, kernels.Shape{2, 35, C}, nil)
	r := randVals(153, rows*C, 1)
	loss := func() float64 {
		must(t, b.ChannelScale(y, x, gamma))
		return dot(vals(y), r)
	}
	loss()
	xv, gv := vals(x), vals(gamma)
	for i, v := range vals(y) {
		if v != gv[i%C]*xv[i] {
			t.Fatalf("channel-scale y[%d] = %v, want %v", i, v, gv[i%C]*xv[i])
		}
	}
	pre := randVals(154, C, 1)
	dy, dx, dgamma := newT(t, b, kernels.Shape{rows, C}, r), newT(t, b, kernels.Shape{rows, C}, nil), newT(t, b, kernels.Shape{C}, pre)
	must(t, b.ChannelScaleBackward(dx, dgamma, dy, x, gamma))
	checkGrad(t, "channel-scale dx", x, vals(dx), loss)
	checkGrad(t, "channel-scale dgamma", gamma, sub(vals(dgamma), pre), loss)
	// dx may alias dy.
	must(t, b.ChannelScaleBackward(dy, newT(t, b, kernels.Shape{C}, nil), dy, x, gamma))
	testutil.AllClose(t, "channel-scale dx aliasing dy", vals(dy), vals(dx), 0, 0)
}

func TestSumSquares(t *testing.T) {
	for _, b := range backends() {
		// Larger than one reduction block per worker, and not a multiple of
		// the block size.
		n := 100_003
		v := randVals(161, n, 3)
		var want float64
		for _, x := range v {
			want += x * x
		}
		got, err := b.SumSquares(newT(t, b, kernels.Shape{n}, v))
		must(t, err)
		if math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s sum-squares = %.17g, want %.17g", b.Name(), got, want)
		}
		// The float32 backend accumulates in float64 too: 1e4 squares of
		// 1e-3 sum to exactly what float64 gives, not float32's drift.
		small := make([]float64, 10000)
		for i := range small {
			small[i] = 1e-3
		}
		got, err = b.SumSquares(newT(t, b, kernels.Shape{10000}, small))
		must(t, err)
		f := float64(float32(1e-3))
		if b.DType() == kernels.Float64 {
			f = 1e-3
		}
		if want := 10000 * f * f; math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s sum-squares of small values = %.17g, want %.17g", b.Name(), got, want)
		}
	}
	// Deterministic: the same value regardless of the number of workers.
	v := randVals(162, 77_777, 1)
	b1, b4 := New(), New()
	b1.workers, b4.workers = 1, 4
	s1, err := b1.SumSquares(newT(t, b1, kernels.Shape{77_777}, v))
	must(t, err)
	s4, err := b4.SumSquares(newT(t, b4, kernels.Shape{77_777}, v))
	must(t, err)
	if s1 != s4 {
		t.Errorf("sum-squares depends on workers: %v vs %v", s1, s4)
	}
}

func TestEMA(t *testing.T) {
	for _, b := range backends() {
		avg := newT(t, b, kernels.Shape{4}, []float64{1, 2, 3, 4})
		x := newT(t, b, kernels.Shape{2, 2}, []float64{3, 2, -1, 0})
		must(t, b.EMA(avg, x, 0.75))
		// 0.75·avg + 0.25·x
		testutil.AllClose(t, b.Name()+" ema", vals(avg), []float64{1.5, 2, 2, 3}, 1e-7, 0)
		must(t, b.EMA(avg, x, 1))
		testutil.AllClose(t, b.Name()+" ema decay 1", vals(avg), []float64{1.5, 2, 2, 3}, 0, 0)
		must(t, b.EMA(avg, x, 0))
		testutil.AllClose(t, b.Name()+" ema decay 0", vals(avg), []float64{3, 2, -1, 0}, 0, 0)
		// Several steps of timm's ModelEma with decay 0.9998.
		a, xv := newT(t, b, kernels.Shape{3}, []float64{0.1, -0.2, 0.3}), []float64{1, 2, -3}
		want := []float64{0.1, -0.2, 0.3}
		xt := newT(t, b, kernels.Shape{3}, xv)
		for range 5 {
			must(t, b.EMA(a, xt, 0.9998))
			for i := range want {
				want[i] = want[i]*0.9998 + (1-0.9998)*xv[i]
			}
		}
		testutil.AllClose(t, b.Name()+" ema steps", vals(a), want, 1e-6, 0)
	}
}

func TestElementwiseErrors(t *testing.T) {
	b := New()
	x, y := newT(t, b, kernels.Shape{2, 3}, nil), newT(t, b, kernels.Shape{2, 3}, nil)
	wantErr(t, "add short b", b.Add(y, x, newT(t, b, kernels.Shape{5}, nil)), kernels.ErrShape, "cpu add", "b", "[5]", "[2 3]")
	wantErr(t, "add nil a", b.Add(y, kernels.Tensor{}, x), kernels.ErrShape, "a is missing")
	wantErr(t, "scale float64 y", b.Scale(newT(t, New64(), kernels.Shape{2, 3}, nil), x, 2), kernels.ErrDType, "scale", "y")
	wantErr(t, "scale-samples 4 into 6", b.ScaleSamples(y, x, newT(t, b, kernels.Shape{4}, nil)), kernels.ErrShape, "scale-samples", "[2 3]", "4 samples")
	wantErr(t, "scale-samples empty scale", b.ScaleSamples(y, x, kernels.Tensor{Shape: kernels.Shape{0}, Data: kernels.F32{}}), kernels.ErrShape, "scale-samples")
	wantErr(t, "channel-scale 4 into 6", b.ChannelScale(y, x, newT(t, b, kernels.Shape{4}, nil)), kernels.ErrShape, "channel-scale", "gamma")
	wantErr(t, "channel-scale backward wrong dgamma", b.ChannelScaleBackward(y, newT(t, b, kernels.Shape{2}, nil), y, x, newT(t, b, kernels.Shape{3}, nil)), kernels.ErrShape, "dgamma", "[2]", "[3]")
	_, err := b.SumSquares(kernels.Tensor{})
	wantErr(t, "sum-squares nil", err, kernels.ErrShape, "sum-squares")
	wantErr(t, "ema NaN", b.EMA(y, x, math.NaN()), kernels.ErrNaN, "ema")
	if err := b.EMA(y, x, 1.5); err == nil {
		t.Error("ema accepted decay 1.5")
	}
	wantErr(t, "ema short x", b.EMA(y, newT(t, b, kernels.Shape{5}, nil), 0.9), kernels.ErrShape, "ema", "x")
}
