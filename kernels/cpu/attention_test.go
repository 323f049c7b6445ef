package cpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

var gateShapes = []kernels.GateShape{
	{N: 2, HW: 5, C: 3},
	{N: 1, HW: 1, C: 7, Gate: kernels.GateHardSigmoid},
	{N: 3, HW: 4, C: 1, Gate: kernels.GateHardSigmoid},
}

func TestChannelGateGradients(t *testing.T) {
	for i, s := range gateShapes {
		t.Run(shapeName(s), func(t *testing.T) {
			be := New64()
			rng := testutil.NewRand(uint64(900 + i))
			xs, gs := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
			x := newT(t, be, xs, testutil.Rand64(rng, xs.Len(), 1))
			g := newT(t, be, gs, testutil.Rand64(rng, gs.Len(), 2))
			dx, dg := newT(t, be, xs, nil), newT(t, be, gs, nil)
			params := []gradParam{
				{name: "x", value: x, grad: dx, overwrite: true},
				{name: "g", value: g, grad: dg, overwrite: true},
			}
			gradCheck(t, uint64(i), xs, params,
				func(y kernels.Tensor) error { return be.ChannelGate(y, x, g, s) },
				func(dy kernels.Tensor) error { return be.ChannelGateBackward(dx, dg, dy, x, g, s) })
		})
	}
}

// TestGateValues checks the gate functions at points where PyTorch's
// values are known exactly, the hard sigmoid's kinks included.
func TestGateValues(t *testing.T) {
	for _, c := range []struct {
		k              kernels.GateKind
		v, gate, deriv float64
	}{
		{kernels.GateSigmoid, 0, 0.5, 0.25},
		{kernels.GateSigmoid, math.Inf(-1), 0, 0},
		{kernels.GateHardSigmoid, 0, 0.5, 1.0 / 6},
		{kernels.GateHardSigmoid, 1.5, 0.75, 1.0 / 6},
		{kernels.GateHardSigmoid, -3, 0, 0},
		{kernels.GateHardSigmoid, 3, 1, 0},
		{kernels.GateHardSigmoid, -7, 0, 0},
		{kernels.GateHardSigmoid, 9, 1, 0},
	} {
		g, d := c.k.Gate(c.v)
		if g != c.gate || d != c.deriv {
			t.Errorf("%v(%v) = %v, %v; want %v, %v", c.k, c.v, g, d, c.gate, c.deriv)
		}
	}
	for _, k := range []kernels.GateKind{kernels.GateSigmoid, kernels.GateHardSigmoid} {
		if g, d := k.Gate(math.NaN()); !math.IsNaN(g) || !math.IsNaN(d) {
			t.Errorf("%v(NaN) = %v, %v; want NaN", k, g, d)
		}
	}
}

// TestChannelGateNaN checks that a NaN in x reaches its own output and its
// channel's dg, and a NaN gate logit its whole channel.
func TestChannelGateNaN(t *testing.T) {
	be := New()
	s := kernels.GateShape{N: 2, HW: 3, C: 2}
	xs, gs := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
	xv := make([]float64, xs.Len())
	xv[1] = math.NaN() // n 0, hw 0, c 1
	gv := []float64{0, 0, math.NaN(), 0}
	x, g := newT(t, be, xs, xv), newT(t, be, gs, gv)
	y, dx, dg := newT(t, be, xs, nil), newT(t, be, xs, nil), newT(t, be, gs, nil)
	dy := newT(t, be, xs, testutil.Rand64(testutil.NewRand(1), xs.Len(), 1))
	if err := be.ChannelGate(y, x, g, s); err != nil {
		t.Fatal(err)
	}
	if err := be.ChannelGateBackward(dx, dg, dy, x, g, s); err != nil {
		t.Fatal(err)
	}
	for i, v := range y.Host32() {
		n, c := i/(s.HW*s.C), i%s.C
		if want := i == 1 || (n == 1 && c == 0); math.IsNaN(float64(v)) != want {
			t.Errorf("y[%d] = %v, NaN expected: %v", i, v, want)
		}
	}
	for i, v := range dg.Host32() {
		if want := i == 1 || i == 2; math.IsNaN(float64(v)) != want {
			t.Errorf("dg[%d] = %v, NaN expected: %v", i, v, want)
		}
	}
}

func TestChannelGateFloat32MatchesFloat64(t *testing.T) {
	s := kernels.GateShape{N: 3, HW: 37, C: 19}
	rng := testutil.NewRand(77)
	xs, gs := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
	xv, gv := roundTo32(testutil.Rand64(rng, xs.Len(), 1)), roundTo32(testutil.Rand64(rng, gs.Len(), 4))
	dyv := roundTo32(testutil.Rand64(rng, xs.Len(), 1))
	for _, k := range []kernels.GateKind{kernels.GateSigmoid, kernels.GateHardSigmoid} {
		s.Gate = k
		var res [2][3][]float64
		for i, be := range []*Backend{New(), New64()} {
			x, g, dy := newT(t, be, xs, xv), newT(t, be, gs, gv), newT(t, be, xs, dyv)
			y, dx, dg := newT(t, be, xs, nil), newT(t, be, xs, nil), newT(t, be, gs, nil)
			if err := be.ChannelGate(y, x, g, s); err != nil {
				t.Fatal(err)
			}
			if err := be.ChannelGateBackward(dx, dg, dy, x, g, s); err != nil {
				t.Fatal(err)
			}
			res[i] = [3][]float64{vals(y), vals(dx), vals(dg)}
		}
		for j, name := range []string{"y", "dx", "dg"} {
			testutil.AllClose(t, k.String()+" "+name, res[0][j], res[1][j], 1e-6, 1e-6)
		}
	}
}

var channelConvShapes = []kernels.ChannelConvShape{
	{N: 2, C: 7, K: 3},
	{N: 3, C: 9, K: 5},
	{N: 1, C: 2, K: 5}, // kernel wider than the channels
	{N: 2, C: 1, K: 3},
	{N: 2, C: 4, K: 1},
}

func TestChannelConvGradients(t *testing.T) {
	for i, s := range channelConvShapes {
		for _, withDX := range []bool{true, false} {
			t.Run(shapeName(s), func(t *testing.T) {
				be := New64()
				rng := testutil.NewRand(uint64(950 + i))
				xs := kernels.Shape{s.N, s.C}
				x := newT(t, be, xs, testutil.Rand64(rng, xs.Len(), 1))
				w := newT(t, be, s.WShape(), testutil.Rand64(rng, s.K, 1))
				dw := newT(t, be, s.WShape(), nil)
				var dx kernels.Tensor
				if withDX {
					dx = newT(t, be, xs, nil)
				}
				params := []gradParam{
					{name: "x", value: x, grad: dx, overwrite: true},
					{name: "w", value: w, grad: dw},
				}
				gradCheck(t, uint64(i), xs, params,
					func(y kernels.Tensor) error { return be.ChannelConv(y, x, w, s) },
					func(dy kernels.Tensor) error { return be.ChannelConvBackward(dx, dw, dy, x, w, s) })
			})
		}
	}
}

// TestChannelConvValues checks a hand-computed case: K = 3, w = (1, 2, 3).
func TestChannelConvValues(t *testing.T) {
	be := New64()
	s := kernels.ChannelConvShape{N: 1, C: 4, K: 3}
	x := newT(t, be, kernels.Shape{1, 4}, []float64{1, 10, 100, 1000})
	w := newT(t, be, s.WShape(), []float64{1, 2, 3})
	y := newT(t, be, kernels.Shape{1, 4}, nil)
	if err := be.ChannelConv(y, x, w, s); err != nil {
		t.Fatal(err)
	}
	// y[c] = x[c−1] + 2·x[c] + 3·x[c+1]
	testutil.AllClose(t, "y", y.Host64(), []float64{2 + 30, 1 + 20 + 300, 10 + 200 + 3000, 100 + 2000}, 0, 0)
}

func TestECAKernelSize(t *testing.T) {
	// timm's EcaModule: t = int(abs(log2(C) + 1)/2), odd, at least 3.
	for c, want := range map[int]int{1: 3, 8: 3, 32: 3, 40: 3, 96: 3, 128: 5, 160: 5, 192: 5, 384: 5, 768: 5, 2048: 7, 8192: 7} {
		if got := kernels.ECAKernelSize(c); got != want {
			t.Errorf("ECAKernelSize(%d) = %d, want %d", c, got, want)
		}
	}
}

func TestAttentionErrors(t *testing.T) {
	be := New()
	s := kernels.GateShape{N: 2, HW: 3, C: 4}
	x := newT(t, be, kernels.Shape{2, 3, 4}, nil)
	g := newT(t, be, kernels.Shape{2, 4}, nil)
	wantErr(t, "gate g is x", be.ChannelGate(x, x, x, s), kernels.ErrShape, "channel gate", "g has shape [2 3 4], want [2 4]")
	wantErr(t, "gate nil dg", be.ChannelGateBackward(x, kernels.Tensor{}, x, x, g, s), kernels.ErrShape, "dg is missing")
	bad := s
	bad.Gate = 7
	wantErr(t, "unknown gate", be.ChannelGate(x, x, g, bad), kernels.ErrShape, "unknown gate kind 7")
	cs := kernels.ChannelConvShape{N: 2, C: 4, K: 2}
	wantErr(t, "even kernel", be.ChannelConv(g, g, g, cs), kernels.ErrShape, "channel conv", "must be odd")
	cs.K = 3
	wantErr(t, "wrong w", be.ChannelConv(g, g, g, cs), kernels.ErrShape, "w has shape [2 4], want [1 1 3]")
	wantErr(t, "float64 dw", be.ChannelConvBackward(g, newT(t, New64(), cs.WShape(), nil), g, g, newT(t, be, cs.WShape(), nil), cs),
		kernels.ErrDType, "dw")
}
