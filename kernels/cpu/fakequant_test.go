package cpu_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// fqRef is an independent scalar reference of one element's fake quant in
// float32 (division-free, as PyTorch: the reciprocal first).
func fqRef(x, s, zp float32, qmin, qmax int) (y float32, in bool, q float64) {
	inv := 1 / s
	z := math.Min(math.Max(math.RoundToEven(float64(zp)), float64(qmin)), float64(qmax))
	q = math.RoundToEven(float64(x*inv)) + z
	qc := math.Min(math.Max(q, float64(qmin)), float64(qmax))
	return float32(qc-z) * s, q >= float64(qmin) && q <= float64(qmax), q
}

func fqUpload(t *testing.T, be kernels.Backend, s kernels.Shape, v []float32) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Upload(x, v); err != nil {
		t.Fatal(err)
	}
	return x
}

func fqDownload(t *testing.T, be kernels.Backend, x kernels.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	if err := be.Download(v, x); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFakeQuantReference compares forward, STE mask, LSQ sums and MinMax
// with the scalar reference on shapes that exercise every split of the
// work: a per-tensor run longer than one work item, per-channel weights,
// NHWC per-channel activations (Inner = 1) and a middle axis.
func TestFakeQuantReference(t *testing.T) {
	shapes := []kernels.QuantShape{
		{Outer: 1, Channels: 1, Inner: 3*4096 + 77, QMin: -128, QMax: 127},
		{Outer: 1, Channels: 37, Inner: 5*7*7 + 3, QMin: -127, QMax: 127},
		{Outer: 161, Channels: 5, Inner: 1, QMin: 0, QMax: 255},
		{Outer: 3, Channels: 4, Inner: 9001, QMin: -8, QMax: 7},
	}
	be := cpu.New()
	rng := testutil.NewRand(7)
	for _, s := range shapes {
		C := s.Channels
		scale := make([]float32, C)
		zp := make([]float32, C)
		for c := range C {
			scale[c] = float32(0.001 + 0.1*rng.Float64())
			if s.QMin < 0 {
				zp[c] = float32(rng.IntN(9) - 4)
			} else {
				zp[c] = float32(rng.IntN(s.QMax + 1))
			}
		}
		n := s.Len()
		x := make([]float32, n)
		dy := make([]float32, n)
		ch := func(i int) int { return (i / s.Inner) % C }
		for i := range x {
			c := ch(i)
			span := float64(s.QMax-s.QMin+16) * float64(scale[c])
			x[i] = float32((rng.Float64()-0.5)*span + float64(float32(float64(s.QMin+s.QMax)/2-float64(zp[c]))*scale[c]))
			dy[i] = float32(2*rng.Float64() - 1)
		}
		xt := fqUpload(t, be, s.XShape(), x)
		dyt := fqUpload(t, be, s.XShape(), dy)
		st := fqUpload(t, be, s.CShape(), scale)
		zt := fqUpload(t, be, s.CShape(), zp)
		yt, _ := be.Alloc(s.XShape())
		dxt, _ := be.Alloc(s.XShape())
		ds, _ := be.Alloc(s.CShape())
		dz, _ := be.Alloc(s.CShape())
		mn, _ := be.Alloc(s.CShape())
		mx, _ := be.Alloc(s.CShape())
		const g = 0.25
		if err := be.FakeQuant(yt, xt, st, zt, s); err != nil {
			t.Fatal(err)
		}
		if err := be.FakeQuantBackward(dxt, ds, dz, dyt, xt, st, zt, s, g); err != nil {
			t.Fatal(err)
		}
		if err := be.MinMax(mn, mx, xt, s); err != nil {
			t.Fatal(err)
		}
		wantY, wantDX := make([]float32, n), make([]float32, n)
		wantDS, wantDZ := make([]float64, C), make([]float64, C)
		wantMin, wantMax := make([]float32, C), make([]float32, C)
		for c := range C {
			wantMin[c], wantMax[c] = float32(math.Inf(1)), float32(math.Inf(-1))
		}
		clipped := 0
		for i := range x {
			c := ch(i)
			y, in, q := fqRef(x[i], scale[c], zp[c], s.QMin, s.QMax)
			wantY[i] = y
			d := float64(dy[i])
			switch {
			case in:
				wantDX[i] = dy[i]
				wantDS[c] += d * float64((y-x[i])*(1/scale[c]))
			case q < float64(s.QMin):
				wantDS[c] += d * (float64(s.QMin) - float64(zp[c]))
				wantDZ[c] -= d * float64(scale[c])
				clipped++
			default:
				wantDS[c] += d * (float64(s.QMax) - float64(zp[c]))
				wantDZ[c] -= d * float64(scale[c])
				clipped++
			}
			wantMin[c] = min(wantMin[c], x[i])
			wantMax[c] = max(wantMax[c], x[i])
		}
		if clipped == 0 || clipped == n {
			t.Fatalf("%+v: %d of %d elements clipped; the test needs both kinds", s, clipped, n)
		}
		for c := range C {
			wantDS[c] *= g
			wantDZ[c] *= g
		}
		testutil.AllClose(t, "y", fqDownload(t, be, yt), wantY, 0, 0)
		testutil.AllClose(t, "dx", fqDownload(t, be, dxt), wantDX, 0, 0)
		testutil.AllClose(t, "dscale", fqDownload(t, be, ds), wantDS, 1e-6, 1e-5)
		testutil.AllClose(t, "dzeroPoint", fqDownload(t, be, dz), wantDZ, 1e-6, 1e-6)
		testutil.AllClose(t, "min", fqDownload(t, be, mn), wantMin, 0, 0)
		testutil.AllClose(t, "max", fqDownload(t, be, mx), wantMax, 0, 0)
	}
}

// TestFakeQuantLSQFiniteDifference checks the scale gradient against
// central differences of the op itself on the float64 backend, with x kept
// at least 0.05 steps away from every rounding and clipping boundary so no
// element changes bucket within ±h. The true derivative of Σ dy·y with
// respect to s is (q − z) per in-range element; LSQ's straight-through
// estimate treats round(x/s) as x/s and is (q − z) − x/s, so the check is
// dscale + Σ_in-range dy·x/s = FD. Clipped elements ((QMin − z)·s, (QMax −
// z)·s) have the same derivative in both. Grids: unsigned 4-bit affine,
// and the 4- and 2-bit symmetric weight grids of low-bit QAT.
func TestFakeQuantLSQFiniteDifference(t *testing.T) {
	for _, g := range []struct {
		qmin, qmax int
		zp         []float32
	}{{0, 15, []float32{3, 0, 12}}, {-7, 7, []float32{0, 0, 0}}, {-1, 1, []float32{0, -1, 1}}} {
		t.Run(fmt.Sprintf("%d..%d", g.qmin, g.qmax), func(t *testing.T) { testLSQFiniteDifference(t, g.qmin, g.qmax, g.zp) })
	}
}

func testLSQFiniteDifference(t *testing.T, qmin, qmax int, zp []float32) {
	be := cpu.New64()
	s := kernels.QuantShape{Outer: 2, Channels: 3, Inner: 40, QMin: qmin, QMax: qmax}
	rng := testutil.NewRand(11)
	scale := []float32{0.25, 0.1, 0.7}
	n := s.Len()
	x := make([]float32, n)
	dy := make([]float32, n)
	width, mid := float64(qmax-qmin+11), float64(qmax+qmin)/2
	for i := range x {
		c := (i / s.Inner) % s.Channels
		var v float64
		for {
			v = (rng.Float64()-0.5)*width + mid - float64(zp[c]) // in steps of s: 5.5 steps beyond each end of the grid
			frac := v - math.Floor(v)
			q := math.RoundToEven(v) + float64(zp[c])
			if math.Abs(frac-0.5) > 0.05 && math.Abs(q-float64(s.QMin)+0.5) > 0.2 && math.Abs(q-float64(s.QMax)-0.5) > 0.2 {
				break
			}
		}
		x[i] = float32(v * float64(scale[c]))
		dy[i] = float32(2*rng.Float64() - 1)
	}
	xt := fqUpload(t, be, s.XShape(), x)
	dyt := fqUpload(t, be, s.XShape(), dy)
	zt := fqUpload(t, be, s.CShape(), zp)
	yt, _ := be.Alloc(s.XShape())
	loss := func(sc []float64) float64 {
		st := fqUpload(t, be, s.CShape(), to32(sc))
		copy(st.Host64(), sc)
		if err := be.FakeQuant(yt, xt, st, zt, s); err != nil {
			t.Fatal(err)
		}
		l := 0.0
		for i, y := range yt.Host64() {
			l += y * float64(dy[i])
		}
		return l
	}
	sc := []float64{0.25, 0.1, 0.7}
	fd := testutil.NumGrad(sc, 1e-7, func() float64 { return loss(sc) })
	st := fqUpload(t, be, s.CShape(), scale)
	ds, _ := be.Alloc(s.CShape())
	if err := be.FakeQuantBackward(kernels.Tensor{}, ds, kernels.Tensor{}, dyt, xt, st, zt, s, 1); err != nil {
		t.Fatal(err)
	}
	got := ds.Host64()
	inRange := 0
	for i := range x {
		c := (i / s.Inner) % s.Channels
		q := math.RoundToEven(float64(x[i])/sc[c]) + float64(zp[c])
		if q >= float64(s.QMin) && q <= float64(s.QMax) {
			got[c] += float64(dy[i]) * float64(x[i]) / sc[c]
			inRange++
		}
	}
	if inRange == 0 || inRange == n {
		t.Fatalf("%d of %d elements in range; the test needs both kinds", inRange, n)
	}
	testutil.AllClose(t, "dscale + Σ dy·x/s vs finite differences", got, fd, 1e-6, 1e-6)
}

// to32 returns a float32 copy of v (Upload's argument type).
func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestFakeQuantSpecialValues pins the behaviour on NaN and infinite inputs
// (NaN stays NaN with a zero gradient and poisons its channel's LSQ
// gradients; ±Inf saturates), the MinScale floor, and MinMax on a channel
// holding NaN.
func TestFakeQuantSpecialValues(t *testing.T) {
	be := cpu.New()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	s := kernels.QuantShape{Outer: 1, Channels: 3, Inner: 4, QMin: -128, QMax: 127}
	xt := fqUpload(t, be, s.XShape(), []float32{nan, 1, 1, 1, inf, -inf, 1, 0.3, 0.1, -0.05, 1e-7, 2})
	st := fqUpload(t, be, s.CShape(), []float32{0.5, 0.5, 1e-9})
	zt := fqUpload(t, be, s.CShape(), []float32{2, 2, 0})
	yt, _ := be.Alloc(s.XShape())
	s.MinScale = 1e-3 // channel 2's scale 1e-9 is raised to 1e-3
	if err := be.FakeQuant(yt, xt, st, zt, s); err != nil {
		t.Fatal(err)
	}
	// channels 0, 1 (s = 0.5, z = 2): +Inf on QMax, −Inf on QMin;
	// channel 2 (s = 1e-3 after the floor): 2 clips to 127·s.
	want := []float32{nan, 1, 1, 1, (127 - 2) * 0.5, (-128 - 2) * 0.5, 1, 0.5, 0.1, -0.05, 0, 0.127}
	testutil.AllClose(t, "y", fqDownload(t, be, yt), want, 1e-6, 0, testutil.NaNEqual)
	dyt := fqUpload(t, be, s.XShape(), []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	dxt, _ := be.Alloc(s.XShape())
	ds, _ := be.Alloc(s.CShape())
	dz, _ := be.Alloc(s.CShape())
	if err := be.FakeQuantBackward(dxt, ds, dz, dyt, xt, st, zt, s, 1); err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "dx", fqDownload(t, be, dxt), []float32{0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0}, 0, 0)
	// channel 1: +Inf above (125), −Inf below (−130), 1 exact (0), 0.3 → 0.5 ((0.5 − 0.3)/0.5 = 0.4)
	d := fqDownload(t, be, ds)
	if !math.IsNaN(float64(d[0])) || math.Abs(float64(d[1])-(125-130+0.4)) > 1e-6 || math.Abs(float64(d[2])-127) > 1e-3 {
		t.Errorf("dscale = %v, want [NaN, −4.6, ≈127]", d)
	}
	if z := fqDownload(t, be, dz); !math.IsNaN(float64(z[0])) || z[1] != -1 || z[2] != -1e-3 {
		t.Errorf("dzeroPoint = %v, want [NaN, −2·0.5, −1e-3]", z)
	}

	mn, _ := be.Alloc(s.CShape())
	mx, _ := be.Alloc(s.CShape())
	if err := be.MinMax(mn, mx, xt, s); err != nil {
		t.Fatal(err)
	}
	lo, hi := fqDownload(t, be, mn), fqDownload(t, be, mx)
	if !math.IsNaN(float64(lo[0])) || !math.IsNaN(float64(hi[0])) {
		t.Errorf("MinMax of a channel holding NaN = %v, %v; want NaN, NaN", lo[0], hi[0])
	}
	if lo[1] != -inf || hi[1] != inf || lo[2] != -0.05 || hi[2] != 2 {
		t.Errorf("MinMax channels 1, 2 = %v, %v; want [−Inf, −0.05], [+Inf, 2]", lo[1:], hi[1:])
	}
}

// TestFakeQuantErrors checks that bad shapes, scales and zero points are
// refused with the right error kinds.
func TestFakeQuantErrors(t *testing.T) {
	be := cpu.New()
	s := kernels.QuantShape{Outer: 1, Channels: 2, Inner: 3, QMin: -128, QMax: 127}
	x := fqUpload(t, be, s.XShape(), []float32{1, 2, 3, 4, 5, 6})
	y, _ := be.Alloc(s.XShape())
	good := fqUpload(t, be, s.CShape(), []float32{0.1, 0.2})
	zero := fqUpload(t, be, s.CShape(), []float32{0.1, 0})
	neg := fqUpload(t, be, s.CShape(), []float32{-0.1, 0.2})
	nanS := fqUpload(t, be, s.CShape(), []float32{float32(math.NaN()), 0.2})
	infS := fqUpload(t, be, s.CShape(), []float32{float32(math.Inf(1)), 0.2})
	zp := fqUpload(t, be, s.CShape(), []float32{0, 0})
	nanZ := fqUpload(t, be, s.CShape(), []float32{0, float32(math.NaN())})
	wrongC, _ := be.Alloc(kernels.Shape{3})
	short, _ := be.Alloc(kernels.Shape{5})
	host64, _ := cpu.New64().Alloc(s.CShape())
	cases := []struct {
		name string
		err  func() error
		want error
	}{
		{"zero scale", func() error { return be.FakeQuant(y, x, zero, zp, s) }, kernels.ErrNaN},
		{"negative scale", func() error { return be.FakeQuant(y, x, neg, zp, s) }, kernels.ErrNaN},
		{"NaN scale", func() error { return be.FakeQuant(y, x, nanS, zp, s) }, kernels.ErrNaN},
		{"Inf scale", func() error { return be.FakeQuant(y, x, infS, zp, s) }, kernels.ErrNaN},
		{"NaN zero point", func() error { return be.FakeQuant(y, x, good, nanZ, s) }, kernels.ErrNaN},
		{"NaN scale backward", func() error {
			return be.FakeQuantBackward(y, kernels.Tensor{}, kernels.Tensor{}, x, x, nanS, zp, s, 1)
		}, kernels.ErrNaN},
		{"NaN grad factor", func() error {
			return be.FakeQuantBackward(y, good, kernels.Tensor{}, x, x, good, zp, s, math.NaN())
		}, kernels.ErrShape},
		{"scale of 3 channels", func() error { return be.FakeQuant(y, x, wrongC, zp, s) }, kernels.ErrShape},
		{"short y", func() error { return be.FakeQuant(short, x, good, zp, s) }, kernels.ErrShape},
		{"nil x", func() error { return be.FakeQuant(y, kernels.Tensor{}, good, zp, s) }, kernels.ErrShape},
		{"float64 zero point", func() error { return be.FakeQuant(y, x, good, host64, s) }, kernels.ErrDType},
		{"QMin > QMax", func() error {
			b := s
			b.QMin, b.QMax = 5, 4
			return be.FakeQuant(y, x, good, zp, b)
		}, kernels.ErrShape},
		{"grid too wide", func() error {
			b := s
			b.QMax = kernels.MaxQuantLevel + 1
			return be.FakeQuant(y, x, good, zp, b)
		}, kernels.ErrShape},
		{"negative MinScale", func() error {
			b := s
			b.MinScale = -1
			return be.FakeQuant(y, x, good, zp, b)
		}, kernels.ErrShape},
		{"zero channels", func() error {
			b := s
			b.Channels = 0
			return be.MinMax(good, good, x, b)
		}, kernels.ErrShape},
		{"minmax wrong min", func() error { return be.MinMax(wrongC, good, x, s) }, kernels.ErrShape},
		{"dscale wrong shape", func() error {
			return be.FakeQuantBackward(y, wrongC, kernels.Tensor{}, x, x, good, zp, s, 1)
		}, kernels.ErrShape},
	}
	for _, c := range cases {
		if err := c.err(); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want one wrapping %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestQuantAxis checks the [Outer, Channels, Inner] views QuantAxis builds.
func TestQuantAxis(t *testing.T) {
	cases := []struct {
		shape kernels.Shape
		axis  int
		want  [3]int
	}{
		{kernels.Shape{40, 3, 4, 4}, 0, [3]int{1, 40, 48}},
		{kernels.Shape{2, 7, 7, 40}, 3, [3]int{98, 40, 1}},
		{kernels.Shape{2, 7, 7, 40}, -1, [3]int{1, 1, 3920}},
		{kernels.Shape{3, 4, 5}, 1, [3]int{3, 4, 5}},
	}
	for _, c := range cases {
		s, err := kernels.QuantAxis(c.shape, c.axis, -127, 127)
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]int{s.Outer, s.Channels, s.Inner}; got != c.want || s.QMin != -127 || s.QMax != 127 {
			t.Errorf("QuantAxis(%v, %d) = %+v, want view %v", c.shape, c.axis, s, c.want)
		}
	}
	if _, err := kernels.QuantAxis(kernels.Shape{2, 3}, 2, 0, 255); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("axis 2 of a rank-2 shape: error %v, want ErrShape", err)
	}
	if _, err := kernels.QuantAxis(kernels.Shape{2, 0}, 0, 0, 255); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("empty shape: error %v, want ErrShape", err)
	}
}
