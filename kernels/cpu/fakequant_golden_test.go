package cpu_test

// Golden tests of the fake quantization ops against PyTorch 1.13's
// fake_quantize_per_{tensor,channel}_affine and the learnable (LSQ) variants,
// written by scripts/golden/fakequant.py (index: testdata/golden/fakequant.md).

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// PyTorch's fake quant is float32 arithmetic with one rounding per step and
// so is ours: y and dx must match bit for bit. The LSQ gradients are sums
// over a channel; PyTorch adds float32 terms, we add them in float64, and
// PyTorch's per-element term (dy·(y − x)·(1/s)·g, four roundings) is rounded
// differently from ours ((y − x)·(1/s) in float32, the rest in float64), so
// they agree to the float32 rounding of a sum of a few hundred terms.
var (
	exact   = tolerance{}
	lsqGrad = tolerance{RTol: 1e-5, ATol: 2e-6}
)

func TestFakeQuantGolden(t *testing.T) {
	files := []string{
		"fakequant_tensor_int8", "fakequant_tensor_uint8",
		"fakequant_channel_weight", "fakequant_channel_nhwc", "fakequant_channel_mid",
		"fakequant_lsq_tensor_sym", "fakequant_lsq_tensor_affine",
		"fakequant_lsq_channel_weight", "fakequant_lsq_channel_affine",
		// low-bit QAT grids: 4- and 2-bit weights, 4-bit activations
		"fakequant_lsq_channel_w4", "fakequant_lsq_channel_w2", "fakequant_tensor_a4", "fakequant_lsq_tensor_a4",
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", f+".safetensors"))
			c := &goldenCase{t: t, be: cpu.New(), g: g}
			s := kernels.QuantShape{Outer: c.meta("outer"), Channels: c.meta("channels"), Inner: c.meta("inner"),
				QMin: c.meta("qmin"), QMax: c.meta("qmax")}
			xs := g.Tensors["x"].Shape
			C := s.Channels
			x := c.in("x", xs...)
			scale, zp := c.in("scale", C), c.in("zero_point", C)
			y := c.out(xs...)
			c.ok(c.be.FakeQuant(y, x, scale, zp, s))
			c.check("y", y, exact)

			dy := c.in("dy", xs...)
			dx := c.out(xs...)
			var dscale, dzp kernels.Tensor
			lsq := g.Has("dscale")
			if lsq {
				dscale, dzp = c.acc("dscale", C), c.acc("dzero_point", C)
			}
			c.ok(c.be.FakeQuantBackward(dx, dscale, dzp, dy, x, scale, zp, s, g.Float(t, "grad_factor")))
			c.check("dx", dx, exact)
			if lsq {
				c.checkAcc("dscale", dscale, lsqGrad)
				c.checkAcc("dzero_point", dzp, lsqGrad)
			}
			// The file must exercise what it claims: ties and clipping.
			if c.meta("ties") == 0 || c.meta("clipped") == 0 {
				t.Fatalf("golden case has %d ties and %d clipped elements; both must be > 0", c.meta("ties"), c.meta("clipped"))
			}
		})
	}
}

// TestFakeQuantGoldenInPlace runs the forward with y aliasing x and the
// backward with dx aliasing dy, which the contract allows.
func TestFakeQuantGoldenInPlace(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", "fakequant_channel_nhwc.safetensors"))
	c := &goldenCase{t: t, be: cpu.New(), g: g}
	s := kernels.QuantShape{Outer: 24, Channels: 6, Inner: 1, QMin: -128, QMax: 127}
	x := c.in("x", 2, 3, 4, 6)
	scale, zp := c.in("scale", 6), c.in("zero_point", 6)
	c.ok(c.be.FakeQuant(x, x, scale, zp, s))
	c.check("y", x, exact)
	x = c.in("x", 2, 3, 4, 6)
	dy := c.in("dy", 2, 3, 4, 6)
	c.ok(c.be.FakeQuantBackward(dy, kernels.Tensor{}, kernels.Tensor{}, dy, x, scale, zp, s, 1))
	c.check("dx", dy, exact)
}

// TestFakeQuantGoldenNaN checks that no golden tensor is NaN, so the exact
// comparisons above cannot pass vacuously on NaN = NaN.
func TestFakeQuantGoldenNaN(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", "fakequant_lsq_channel_affine.safetensors"))
	for _, n := range g.Names() {
		for _, v := range g.Tensors[n].Data {
			if math.IsNaN(float64(v)) {
				t.Fatalf("%s holds NaN", n)
			}
		}
	}
}
