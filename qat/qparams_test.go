package qat_test

import (
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/qat"
)

// fqGolden is the folder scripts/golden/fakequant.py writes.
var fqGolden = filepath.Join("..", "kernels", "cpu", "testdata", "golden")

// TestQParamsGolden matches QParams against PyTorch's calculate_qparams on
// a table of ranges (both signs, all-positive, all-negative, zero, tiny
// enough to hit the eps floor) for every grid and scheme nextconv offers:
// scales bit for bit, zero points exactly.
func TestQParamsGolden(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join(fqGolden, "fakequant_qparams.safetensors"))
	n := len(g.Tensors["min"].Data)
	mins, maxs := g.Tensor(t, "min", n), g.Tensor(t, "max", n)
	if eps := g.Float(t, "eps"); float32(eps) != qat.Float32Eps {
		t.Fatalf("PyTorch eps %v, Float32Eps %v", eps, qat.Float32Eps)
	}
	for _, spec := range strings.Split(g.Metadata["schemes"], ";") {
		f := strings.Split(spec, ":")
		qmin, _ := strconv.Atoi(f[1])
		qmax, _ := strconv.Atoi(f[2])
		q := qat.QScheme{QMin: qmin, QMax: qmax, Symmetric: f[3] == "sym", PerChannel: true}
		scale, zp, err := qat.ChannelQParams(mins, maxs, q)
		if err != nil {
			t.Fatalf("%s: %v", f[0], err)
		}
		zf := make([]float32, n)
		for i, z := range zp {
			zf[i] = float32(z)
		}
		testutil.AllClose(t, f[0]+" scale", scale, g.Tensor(t, f[0]+".scale", n), 0, 0)
		testutil.AllClose(t, f[0]+" zero point", zf, g.Tensor(t, f[0]+".zero_point", n), 0, 0)
	}
}

// TestQParamsByHand pins a few values worked out on paper.
func TestQParamsByHand(t *testing.T) {
	cases := []struct {
		min, max float32
		q        qat.QScheme
		scale    float32
		zp       int32
	}{
		{-1.27, 0.5, qat.WeightInt8(), 0.01, 0},                   // |min| / 127
		{-1, 3, qat.ActivationInt8(), 3 / 127.5, 0},               // max / 127.5
		{-1, 3, qat.ActivationUInt8(), 4.0 / 255, 64},             // 0 − round(−1/(4/255)) = 63.75 → 64
		{0.5, 2, qat.ActivationUInt8(), 2.0 / 255, 0},             // widened to [0, 2]
		{0, 0, qat.WeightInt8(), qat.Float32Eps, 0},               // eps floor
		{-2, -1, qat.QScheme{QMin: 0, QMax: 255}, 2.0 / 255, 255}, // widened to [−2, 0]
		{-1, 1, qat.QScheme{QMin: 0, QMax: 255, Symmetric: true}, 1 / 127.5, 127},
		{-1, 1, qat.QScheme{QMin: -8, QMax: 7, Eps: 0.5}, 0.5, -6}, // Eps raises 2/15 to 0.5; −8 − round(−2)
	}
	for _, c := range cases {
		s, z, err := qat.QParams(c.min, c.max, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(s-c.scale)) > 1e-7*float64(c.scale) || z != c.zp {
			t.Errorf("QParams(%v, %v, %v) = %v, %d; want %v, %d", c.min, c.max, c.q, s, z, c.scale, c.zp)
		}
	}
}

func TestQParamsErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, r := range [][2]float32{{nan, 1}, {0, nan}, {-inf, 1}, {0, inf}, {inf, -inf}} {
		if _, _, err := qat.QParams(r[0], r[1], qat.ActivationInt8()); !errors.Is(err, kernels.ErrNaN) {
			t.Errorf("QParams(%v, %v): error %v, want ErrNaN", r[0], r[1], err)
		}
	}
	if _, _, err := qat.QParams(2, 1, qat.ActivationInt8()); err == nil {
		t.Error("QParams(2, 1): min > max accepted")
	}
	for _, q := range []qat.QScheme{{QMin: 3, QMax: 3}, {QMin: 0, QMax: 1 << 20}, {QMin: 0, QMax: 255, PerChannel: true, Axis: -1},
		{QMin: 0, QMax: 255, Eps: float32(math.NaN())}} {
		if _, _, err := qat.QParams(-1, 1, q); err == nil {
			t.Errorf("invalid scheme %+v accepted", q)
		}
	}
	if _, _, err := qat.ChannelQParams([]float32{0, 0}, []float32{1}, qat.WeightInt8()); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("ChannelQParams with 2 minima and 1 maximum: error %v, want ErrShape", err)
	}
	if _, _, err := qat.ChannelQParams([]float32{0, nan}, []float32{1, 1}, qat.WeightInt8()); err == nil || !strings.Contains(err.Error(), "channel 1") {
		t.Errorf("ChannelQParams with NaN in channel 1: error %v, want one naming channel 1", err)
	}
}

// TestBitSchemes pins the low-bit grids: weights on the narrow symmetric
// range (8 bits equal WeightInt8), activations on the full signed range (8
// bits equal ActivationInt8), Bits inverting both, and the bounds.
func TestBitSchemes(t *testing.T) {
	for b := 2; b <= 8; b++ {
		w, err := qat.WeightBits(b)
		if err != nil {
			t.Fatal(err)
		}
		a, err := qat.ActivationBits(b)
		if err != nil {
			t.Fatal(err)
		}
		m := 1<<(b-1) - 1
		if w.QMin != -m || w.QMax != m || !w.Symmetric || !w.PerChannel || w.Axis != 0 || w.Bits() != b {
			t.Errorf("WeightBits(%d) = %v (%d bits)", b, w, w.Bits())
		}
		if a.QMin != -m-1 || a.QMax != m || !a.Symmetric || a.PerChannel || a.Bits() != b {
			t.Errorf("ActivationBits(%d) = %v (%d bits)", b, a, a.Bits())
		}
		if err := w.Validate(); err != nil {
			t.Errorf("WeightBits(%d): %v", b, err)
		}
	}
	if w, _ := qat.WeightBits(8); w != qat.WeightInt8() {
		t.Errorf("WeightBits(8) = %v, want WeightInt8 %v", w, qat.WeightInt8())
	}
	if a, _ := qat.ActivationBits(8); a != qat.ActivationInt8() {
		t.Errorf("ActivationBits(8) = %v, want ActivationInt8 %v", a, qat.ActivationInt8())
	}
	if b := qat.ActivationUInt8().Bits(); b != 8 {
		t.Errorf("uint8 grid: %d bits", b)
	}
	// The LSQ weight grid at 2 bits is ternary: scale = max|w|/1.
	w2, _ := qat.WeightBits(2)
	if s, z, err := qat.QParams(-0.3, 0.5, w2); err != nil || s != 0.5 || z != 0 {
		t.Errorf("2-bit qparams of [-0.3, 0.5]: %v %v %v", s, z, err)
	}
	for _, b := range []int{-1, 0, 1, 17} {
		if _, err := qat.WeightBits(b); err == nil || !strings.Contains(err.Error(), "weight bits") {
			t.Errorf("WeightBits(%d): %v", b, err)
		}
		if _, err := qat.ActivationBits(b); err == nil || !strings.Contains(err.Error(), "activation bits") {
			t.Errorf("ActivationBits(%d): %v", b, err)
		}
	}
}
