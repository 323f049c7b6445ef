package qat_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/qat"
)

// fq is a host fake quant of one value (PyTorch's float32 arithmetic) that
// also reports the straight-through mask.
func fqHost(x, s float32, z int32, qmin, qmax int) (float32, bool) {
	q := math.RoundToEven(float64(x*(1/s))) + float64(z)
	qc := math.Min(math.Max(q, float64(qmin)), float64(qmax))
	return float32(qc-float64(z)) * s, q >= float64(qmin) && q <= float64(qmax)
}

func qTensor(t *testing.T, be kernels.Backend, s kernels.Shape, v []float32) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(s)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := be.Upload(x, v); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// TestQuantizedLinearSTE checks the wrapper's forward and gradient routing
// on a tiny Linear against a hand computation: after calibrating on one
// batch and freezing the observers, both the input and the (then enlarged)
// weight have elements outside their grids, so both masks matter. The
// weight's float gradient must be mask_w·(dyᵀ·x_q) added to what it held,
// dx must be mask_x·(dy·w_q), the bias gradient Σ dy, and the float weight
// must be untouched.
func TestQuantizedLinearSTE(t *testing.T) {
	be := cpu.New()
	const rows, in, out = 4, 3, 2
	lin, err := layers.NewLinear(be, "fc", in, out, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{0.5, -0.25, 0.125, -0.4, 0.3, 0.05}
	copy(lin.Weight.Value.Host32(), w)
	copy(lin.Bias.Value.Host32(), []float32{0.1, -0.2})
	act := qat.ActivationQuant()
	q, err := qat.NewQuantized(be, lin, qat.WeightQuant(), &act)
	if err != nil {
		t.Fatal(err)
	}
	calib := qTensor(t, be, kernels.Shape{rows, in}, []float32{1, -1, 0.5, 0.2, 0.9, -0.7, 0.3, 0.3, 0.3, -0.1, 0.6, 1.2})
	if _, err := q.Forward(calib); err != nil {
		t.Fatal(err)
	}
	for _, f := range q.Quantizers() {
		f.FreezeObserver()
	}
	sx, zx, _ := q.Input.QParams()
	sw, zw, _ := q.Weight.QParams()
	if math.Abs(float64(sx[0])-1.2/127.5) > 1e-8 || len(sw) != out {
		t.Fatalf("calibrated scales %v (want 1.2/127.5) and %v", sx, sw)
	}
	// the weight grows past its frozen range; the input too
	w = []float32{0.9, -0.25, 0.125, -0.4, 0.3, -0.6}
	copy(lin.Weight.Value.Host32(), w)
	xv := []float32{2, -1, 0.5, 0.2, -1.9, -0.7, 0.3, 0.31, 0.3, -0.1, 0.6, 1.22}
	x := qTensor(t, be, kernels.Shape{rows, in}, xv)
	y, err := q.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	xq, mx := make([]float32, len(xv)), make([]bool, len(xv))
	for i, v := range xv {
		xq[i], mx[i] = fqHost(v, sx[0], zx[0], -128, 127)
	}
	wq, mw := make([]float32, len(w)), make([]bool, len(w))
	for i, v := range w {
		wq[i], mw[i] = fqHost(v, sw[i/in], zw[i/in], -127, 127)
	}
	clippedX, clippedW := 0, 0
	for i := range mx {
		if !mx[i] {
			clippedX++
		}
	}
	for i := range mw {
		if !mw[i] {
			clippedW++
		}
	}
	if clippedX == 0 || clippedW == 0 {
		t.Fatalf("%d input and %d weight elements clipped; the test needs both", clippedX, clippedW)
	}
	wantY := make([]float32, rows*out)
	b := []float32{0.1, -0.2}
	for r := range rows {
		for o := range out {
			s := float64(b[o])
			for i := range in {
				s += float64(xq[r*in+i]) * float64(wq[o*in+i])
			}
			wantY[r*out+o] = float32(s)
		}
	}
	testutil.AllClose(t, "y", y.Host32(), wantY, 1e-6, 1e-7)

	g0 := []float32{0.01, 0.02, 0.03, 0.04, 0.05, 0.06}
	copy(lin.Weight.Grad.Host32(), g0)
	copy(lin.Bias.Grad.Host32(), []float32{1, 2})
	dyv := []float32{0.3, -0.2, 0.5, 0.1, -0.4, 0.7, 0.2, 0.2}
	dx, err := q.Backward(qTensor(t, be, kernels.Shape{rows, out}, dyv))
	if err != nil {
		t.Fatal(err)
	}
	wantDX := make([]float32, rows*in)
	for r := range rows {
		for i := range in {
			s := 0.0
			for o := range out {
				s += float64(dyv[r*out+o]) * float64(wq[o*in+i])
			}
			if mx[r*in+i] {
				wantDX[r*in+i] = float32(s)
			}
		}
	}
	wantDW := make([]float32, out*in)
	for o := range out {
		for i := range in {
			s := 0.0
			for r := range rows {
				s += float64(dyv[r*out+o]) * float64(xq[r*in+i])
			}
			if !mw[o*in+i] {
				s = 0
			}
			wantDW[o*in+i] = g0[o*in+i] + float32(s)
		}
	}
	wantDB := []float32{1 + 0.3 + 0.5 - 0.4 + 0.2, 2 - 0.2 + 0.1 + 0.7 + 0.2}
	testutil.AllClose(t, "dx", dx.Host32(), wantDX, 1e-6, 1e-7)
	testutil.AllClose(t, "weight grad", lin.Weight.Grad.Host32(), wantDW, 1e-6, 1e-7)
	testutil.AllClose(t, "bias grad", lin.Bias.Grad.Host32(), wantDB, 1e-6, 1e-7)
	testutil.AllClose(t, "float weight after the step", lin.Weight.Value.Host32(), w, 0, 0)
	if n := len(q.Params()); n != 2 {
		t.Errorf("Params() has %d entries, want the Linear's 2", n)
	}
}

// TestFakeQuantFreeze checks that a frozen observer stops updating (range,
// qparams, step count), that FreezeObserverAfter freezes by itself, and
// that evaluation mode pauses the observer unless calibrating.
func TestFakeQuantFreeze(t *testing.T) {
	be := cpu.New()
	f, err := qat.NewFakeQuant(be, "act", qat.ActivationQuant(), 1)
	if err != nil {
		t.Fatal(err)
	}
	a := qTensor(t, be, kernels.Shape{2, 3}, []float32{-1, 0.5, 2, 0, 1, -0.5})
	b := qTensor(t, be, kernels.Shape{2, 3}, []float32{-8, 0.5, 9, 0, 1, -0.5})
	if _, err := f.Forward(a); err != nil {
		t.Fatal(err)
	}
	s0, _, _ := f.QParams()
	f.FreezeObserver()
	y, err := f.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	s1, _, _ := f.QParams()
	if f.Observer.Min[0] != -1 || f.Observer.Max[0] != 2 || s1[0] != s0[0] || f.Steps() != 1 {
		t.Errorf("frozen observer moved: range [%v, %v], scale %v → %v, %d steps", f.Observer.Min[0], f.Observer.Max[0], s0[0], s1[0], f.Steps())
	}
	want := make([]float32, 6)
	for i, v := range b.Host32() {
		want[i], _ = fqHost(v, s0[0], 0, -128, 127)
	}
	testutil.AllClose(t, "y with frozen qparams", y.Host32(), want, 0, 0)

	// moving average by hand: first batch sets, then min += 0.01·(b − min)
	g, _ := qat.NewFakeQuant(be, "act2", qat.ActivationQuant(), 1)
	g.FreezeObserverAfter(2)
	for _, x := range []kernels.Tensor{a, b, b} {
		if _, err := g.Forward(x); err != nil {
			t.Fatal(err)
		}
	}
	wantMin := float32(-1) + float32(0.01)*float32(-8-(-1))
	wantMax := float32(2) + float32(0.01)*float32(9-2)
	if g.Steps() != 2 || g.ObserverEnabled() || g.Observer.Min[0] != wantMin || g.Observer.Max[0] != wantMax {
		t.Errorf("after FreezeObserverAfter(2) and 3 batches: %d steps, observer %v, range [%v, %v]; want 2, false, [%v, %v]",
			g.Steps(), g.ObserverEnabled(), g.Observer.Min[0], g.Observer.Max[0], wantMin, wantMax)
	}

	h, _ := qat.NewFakeQuant(be, "act3", qat.ActivationQuant(), 1)
	h.SetTraining(false)
	if _, err := h.Forward(a); !errors.Is(err, qat.ErrNoRange) {
		t.Errorf("evaluation before any observation: error %v, want ErrNoRange", err)
	}
	h.SetCalibration(true)
	if _, err := h.Forward(a); err != nil || h.Steps() != 1 {
		t.Errorf("calibrating in evaluation mode: error %v, %d steps; want nil, 1", err, h.Steps())
	}
	h.SetCalibration(false)
	if _, err := h.Forward(b); err != nil || h.Steps() != 1 || h.Observer.Max[0] != 2 {
		t.Errorf("evaluation after calibration: error %v, %d steps, max %v; want nil, 1, 2", err, h.Steps(), h.Observer.Max[0])
	}

	// fake quant off: identity forward and backward, observer still runs
	k, _ := qat.NewFakeQuant(be, "act4", qat.ActivationQuant(), 1)
	k.SetFakeQuant(false)
	y, err = k.Forward(b)
	if err != nil || y.Host32()[0] != -8 || k.Steps() != 1 {
		t.Errorf("fake quant off: y[0] = %v, %d steps, error %v; want -8, 1, nil", y.Host32()[0], k.Steps(), err)
	}
	dy := qTensor(t, be, kernels.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	if dx, err := k.Backward(dy); err != nil || dx.Host32()[5] != 6 {
		t.Errorf("fake quant off: backward %v, %v; want dy", dx, err)
	}
}

// TestFakeQuantLayerErrors covers the layer's error cases.
func TestFakeQuantLayerErrors(t *testing.T) {
	be := cpu.New()
	f, _ := qat.NewFakeQuant(be, "blocks.0.act", qat.ActivationQuant(), 1)
	ok := qTensor(t, be, kernels.Shape{4}, []float32{-1, 0, 1, 2})
	if _, err := f.Backward(ok); !errors.Is(err, layers.ErrNoForward) {
		t.Errorf("backward first: %v, want layers.ErrNoForward", err)
	}
	if _, err := f.Forward(ok); err != nil {
		t.Fatal(err)
	}
	bad := qTensor(t, be, kernels.Shape{4}, []float32{-1, float32(math.NaN()), 1, 2})
	_, err := f.Forward(bad)
	if !errors.Is(err, kernels.ErrNaN) || !strings.Contains(err.Error(), "blocks.0.act") {
		t.Errorf("NaN batch: error %v, want ErrNaN naming the layer", err)
	}
	if f.Observer.Min[0] != -1 || f.Observer.Max[0] != 2 || f.Steps() != 1 {
		t.Errorf("NaN batch changed the range to [%v, %v] (%d steps)", f.Observer.Min[0], f.Observer.Max[0], f.Steps())
	}
	inf := qTensor(t, be, kernels.Shape{4}, []float32{float32(math.Inf(-1)), 0, 1, 2})
	if _, err := f.Forward(inf); !errors.Is(err, kernels.ErrNaN) {
		t.Errorf("−Inf batch: error %v, want ErrNaN", err)
	}

	g, _ := qat.NewFakeQuant(be, "frozen", qat.ActivationQuant(), 1)
	g.FreezeObserver()
	if _, err := g.Forward(ok); !errors.Is(err, qat.ErrNoRange) {
		t.Errorf("fake quant without a range: %v, want ErrNoRange", err)
	}
	if _, _, err := g.QParams(); !errors.Is(err, qat.ErrNoRange) {
		t.Errorf("QParams without a range: %v, want ErrNoRange", err)
	}

	w, _ := qat.NewFakeQuant(be, "w", qat.WeightQuant(), 5)
	if _, err := w.Forward(qTensor(t, be, kernels.Shape{4, 3}, nil)); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("4 channels into a 5-channel quantizer: %v, want ErrShape", err)
	}
	if _, err := qat.NewFakeQuant(be, "x", qat.QuantConfig{Scheme: qat.WeightInt8()}, 5); err == nil {
		t.Error("config without an observer accepted")
	}
	if _, err := qat.NewFakeQuant(be, "x", qat.QuantConfig{Scheme: qat.QScheme{QMin: -8, QMax: 0}, Observer: qat.MinMaxObserver, LSQ: true}, 1); err == nil {
		t.Error("LSQ with QMax = 0 accepted")
	}
	if _, err := qat.NewQuantized(be, layers.NewGELU(be, "act", kernels.GELUErf), qat.WeightQuant(), nil); err == nil {
		t.Error("wrapping a GELU accepted")
	}

	// state: missing, mis-shaped and impossible values are refused
	st := f.State()
	if err := g.LoadState(st); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("state of another quantizer: %v, want ErrShape (missing)", err)
	}
	mutate := func(name string, v []float32) []qat.StateTensor {
		out := make([]qat.StateTensor, len(st))
		copy(out, st)
		for i := range out {
			if strings.HasSuffix(out[i].Name, "."+name) {
				out[i].Data, out[i].Shape = v, []int{len(v)}
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		v    []float32
		want error
	}{
		{"scale", []float32{0}, kernels.ErrNaN},
		{"scale", []float32{float32(math.NaN())}, kernels.ErrNaN},
		{"scale", []float32{1, 1}, kernels.ErrShape},
		{"min_val", []float32{float32(math.NaN())}, kernels.ErrNaN},
		{"zero_point", []float32{0.5}, nil},
		{"zero_point", []float32{300}, nil},
		{"min_val", []float32{5}, nil}, // min > max
	} {
		err := f.LoadState(mutate(c.name, c.v))
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("state with %s = %v: error %v, want %v", c.name, c.v, err, c.want)
		}
	}
	if err := f.LoadState(st); err != nil {
		t.Errorf("reloading its own state: %v", err)
	}
}

// TestFakeQuantLSQ checks the learned step: the observer initialises the
// Scale Param, freezing starts learning, the scale gradient is the op's
// with PyTorch's factor 1/sqrt(N·QMax), QParams reads the learned scale
// with the eps floor, and a NaN scale is reported, not used silently.
func TestFakeQuantLSQ(t *testing.T) {
	be := cpu.New()
	cfg := qat.ActivationQuant()
	cfg.LSQ = true
	f, err := qat.NewFakeQuant(be, "act", cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ps := f.Params(); len(ps) != 1 || ps[0].Name != "act.scale" || ps[0].Decay {
		t.Fatalf("LSQ params %v, want one act.scale without decay", ps)
	}
	xv := []float32{-1.3, 0.2, 0.77, 2.54, -0.01, 5, 0.5, -0.6}
	x := qTensor(t, be, kernels.Shape{2, 4}, xv)
	dy := qTensor(t, be, kernels.Shape{2, 4}, []float32{1, -1, 0.5, 0.25, 2, -0.5, 1, 1})
	if _, err := f.Forward(x); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Backward(dy); err != nil {
		t.Fatal(err)
	}
	if g := f.Scale.Grad.Host32()[0]; g != 0 {
		t.Errorf("scale gradient %v while the observer runs, want 0", g)
	}
	if s := f.Scale.Value.Host32()[0]; s != 5/127.5 {
		t.Errorf("observer-initialised scale %v, want 5/127.5", s)
	}
	f.FreezeObserver()
	if !f.Learning() {
		t.Fatal("frozen LSQ quantizer is not learning")
	}
	copy(f.Scale.Value.Host32(), []float32{0.03}) // as if the optimizer moved it
	if _, err := f.Forward(x); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Backward(dy); err != nil {
		t.Fatal(err)
	}
	s := kernels.QuantShape{Outer: 1, Channels: 1, Inner: 8, QMin: -128, QMax: 127, MinScale: float64(qat.Float32Eps)}
	want := qTensor(t, be, kernels.Shape{1}, nil)
	if err := be.FakeQuantBackward(kernels.Tensor{}, want, kernels.Tensor{}, dy, x, f.Scale.Value, qTensor(t, be, kernels.Shape{1}, nil), s,
		1/math.Sqrt(8*127)); err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "LSQ scale grad", f.Scale.Grad.Host32(), want.Host32(), 0, 0)
	if want.Host32()[0] == 0 {
		t.Fatal("reference scale gradient is 0")
	}

	copy(f.Scale.Value.Host32(), []float32{1e-12})
	if sc, _, err := f.QParams(); err != nil || sc[0] != qat.Float32Eps {
		t.Errorf("QParams of a scale below eps: %v, %v; want eps", sc, err)
	}
	copy(f.Scale.Value.Host32(), []float32{float32(math.NaN())})
	if _, _, err := f.QParams(); !errors.Is(err, kernels.ErrNaN) {
		t.Errorf("QParams of a NaN scale: %v, want ErrNaN", err)
	}

	// the LSQ paper's init: s = 2·mean|x|/sqrt(QMax) on the first batch
	cfg.LSQInit = qat.LSQInitMeanAbs
	m, _ := qat.NewFakeQuant(be, "act2", cfg, 1)
	m.FreezeObserver()
	if _, err := m.Forward(x); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range xv {
		sum += math.Abs(float64(v))
	}
	if got, want := m.Scale.Value.Host32()[0], float32(2*sum/8/math.Sqrt(127)); got != want {
		t.Errorf("mean-|x| init %v, want %v", got, want)
	}
}

// TestFakeQuantQuantize checks that the host integers, dequantized, are
// exactly the layer's fake-quantized output (per channel, with clipping).
func TestFakeQuantQuantize(t *testing.T) {
	be := cpu.New()
	f, _ := qat.NewFakeQuant(be, "w", qat.WeightQuant(), 5)
	xs := kernels.Shape{5, 2, 3, 3}
	v := testutil.Rand(testutil.NewRand(8), xs.Len(), 1)
	if _, err := f.Forward(qTensor(t, be, xs, v)); err != nil {
		t.Fatal(err)
	}
	f.FreezeObserver()
	for i := range v {
		v[i] *= 1.3 // some values now clip
	}
	y, err := f.Forward(qTensor(t, be, xs, v))
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.Quantize(v, xs)
	if err != nil {
		t.Fatal(err)
	}
	scale, zp, _ := f.QParams()
	got := make([]float32, len(q))
	clipped := 0
	for i, n := range q {
		c := i / 18
		got[i] = float32(n-zp[c]) * scale[c]
		if n == 127 || n == -127 {
			clipped++
		}
	}
	if clipped == 0 {
		t.Fatal("no value clipped")
	}
	testutil.AllClose(t, "dequantized integers vs fake quant", got, y.Host32(), 0, 0)
	if _, err := f.Quantize(v[:10], xs); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("10 values for %v: %v, want ErrShape", xs, err)
	}
}
