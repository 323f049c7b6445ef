package gpu

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// precisionPair is newPair with both backends in precision prec (the CPU
// one emulates bf16; it has no TF32 and stays FP32 for it).
func precisionPair(t *testing.T, seed uint64, prec kernels.Precision) *pair {
	p := newPair(t, seed)
	p.ok(p.gpu.SetPrecision(prec))
	if prec == kernels.BF16 {
		p.ok(p.cpu.SetPrecision(prec))
	}
	return p
}

// typed returns the same values, rounded to bf16 for dt BFloat16, in
// tensors of dtype dt on both backends.
func (p *pair) typed(s kernels.Shape, dt kernels.DType, scale float64) (c, g kernels.Tensor) {
	p.t.Helper()
	v := p.randVals(s.Len(), scale)
	c, err := p.cpu.AllocDType(s, dt)
	p.ok(err)
	g, err = p.gpu.AllocDType(s, dt)
	p.ok(err)
	if dt == kernels.BFloat16 {
		bfloat16.RoundSlice(v)
		copy(c.Data.(kernels.BF16Host), v)
	} else {
		copy(c.Host32(), v)
	}
	p.ok(p.gpu.Upload(g, v))
	return c, g
}

// hostValues returns the CPU tensor's elements as float32.
func hostValues(c kernels.Tensor) []float32 {
	if h, ok := c.Data.(kernels.BF16Host); ok {
		return h
	}
	return c.Host32()
}

// sameBF16 checks that every element of the device tensor g equals the
// CPU's c or is one bf16 unit in the last place from it (the two round
// float32 sums accumulated in different orders).
func (p *pair) sameBF16(what string, c, g kernels.Tensor) {
	p.t.Helper()
	got := make([]float32, g.Len())
	p.ok(p.gpu.Download(got, g))
	want := hostValues(c)
	for i := range want {
		w := float64(want[i])
		_, e := math.Frexp(w)
		ulp := math.Ldexp(1, e-8)
		if w == 0 {
			ulp = 1e-30
		}
		if d := math.Abs(float64(got[i]) - w); !(d <= ulp) {
			p.t.Fatalf("%s[%d] = %v, want %v (%.1f bf16 ulp apart)", what, i, got[i], w, d/ulp)
		}
	}
}

// sameF32 compares a float32 result that both backends accumulate in
// float32 in different orders.
func (p *pair) sameF32(what string, c, g kernels.Tensor, rtol, atol float64) {
	p.t.Helper()
	got := make([]float32, g.Len())
	p.ok(p.gpu.Download(got, g))
	testutil.AllClose(p.t, what, got, hostValues(c), rtol, atol)
}

// TestLinearBF16 runs Linear and LinearBackward in BF16 precision on the
// simulator (cuBLASLt emulation) against the CPU backend's bf16
// emulation, on odd shapes: bf16 x, w and bias (the autocast operands),
// y and dx bf16 within one bf16 ulp, dw and db float32 accumulated into
// random starting values (db through the BGRADB epilogue and add_f32).
// A float32 output with a float32 bias (the classifier head's logits) is
// covered too.
func TestLinearBF16(t *testing.T) {
	cases := []kernels.LinearShape{{Rows: 37, In: 5, Out: 19}, {Rows: 1, In: 3, Out: 2}, {Rows: 98, In: 40, Out: 161}, {Rows: 33, In: 1, Out: 1}}
	for i, s := range cases {
		for _, yt := range []kernels.DType{kernels.BFloat16, kernels.Float32} {
			t.Run(fmt.Sprintf("%dx%d_to_%d_%v", s.Rows, s.In, s.Out, yt), func(t *testing.T) {
				p := precisionPair(t, uint64(900+i), kernels.BF16)
				cx, gx := p.typed(kernels.Shape{s.Rows, s.In}, kernels.BFloat16, 1)
				cw, gw := p.typed(kernels.Shape{s.Out, s.In}, kernels.BFloat16, 1)
				cb, gb := p.typed(kernels.Shape{s.Out}, yt, 1)
				cy, gy := p.typed(kernels.Shape{s.Rows, s.Out}, yt, 0)
				p.ok(p.cpu.Linear(cy, cx, cw, cb, s))
				p.ok(p.gpu.Linear(gy, gx, gw, gb, s))
				if yt == kernels.BFloat16 {
					p.sameBF16("y", cy, gy)
				} else {
					p.sameF32("y", cy, gy, 1e-5, 1e-6)
				}
				cdy, gdy := p.typed(kernels.Shape{s.Rows, s.Out}, kernels.BFloat16, 1)
				cdx, gdx := p.typed(kernels.Shape{s.Rows, s.In}, kernels.BFloat16, 0)
				cdw, gdw := p.typed(kernels.Shape{s.Out, s.In}, kernels.Float32, 1)
				cdb, gdb := p.typed(kernels.Shape{s.Out}, kernels.Float32, 1)
				p.ok(p.cpu.LinearBackward(cdx, cdw, cdb, cdy, cx, cw, s))
				p.ok(p.gpu.LinearBackward(gdx, gdw, gdb, gdy, gx, gw, s))
				p.sameBF16("dx", cdx, gdx)
				p.sameF32("dw", cdw, gdw, 1e-5, 1e-5)
				p.sameF32("db", cdb, gdb, 1e-5, 1e-5)
			})
		}
	}
}

// TestConv2DBF16 is TestLinearBF16 for Conv2D on every shape of convCases
// plus a 1×1 convolution with W = 1: the direct GEMM, im2col_bf16 and
// col2im_bf16 (stem, downsampling, stride 2, padding, groups, H or W = 1,
// odd channel counts), with the whole batch in one chunk and in chunks of
// two output rows (dx accumulated over chunks in bf16 where K ≤ Stride,
// in a float32 scratch tensor otherwise).
func TestConv2DBF16(t *testing.T) {
	saved := convColBytes
	t.Cleanup(func() { convColBytes = saved })
	cases := append([]kernels.ConvShape{{N: 2, H: 3, W: 1, CIn: 7, COut: 5, K: 1, Stride: 1}}, convCases...)
	for i, s := range cases {
		for _, chunked := range []bool{false, true} {
			if chunked && s.K == 1 && s.Stride == 1 {
				continue // the direct GEMM has no buffer
			}
			t.Run(fmt.Sprintf("%s_chunked%v", convName(s), chunked), func(t *testing.T) {
				convColBytes = saved
				if p := newConvPlan(s); chunked {
					convColBytes = 4 * 2 * p.ow * p.ck
				}
				checkConv2DBF16(t, uint64(950+i), s)
			})
		}
	}
}

// checkConv2DBF16 runs Conv2D at s and its backward in bf16 on both
// backends and compares y and dx (bf16, one ulp) and dw, db (float32).
func checkConv2DBF16(t *testing.T, seed uint64, s kernels.ConvShape) {
	p := precisionPair(t, seed, kernels.BF16)
	l := s.Layer()
	cx, gx := p.typed(l.X, kernels.BFloat16, 1)
	cw, gw := p.typed(l.W, kernels.BFloat16, 1)
	cb, gb := p.typed(kernels.Shape{s.COut}, kernels.BFloat16, 1)
	cy, gy := p.typed(l.Y, kernels.BFloat16, 0)
	p.ok(p.cpu.Conv2D(cy, cx, cw, cb, s))
	p.ok(p.gpu.Conv2D(gy, gx, gw, gb, s))
	p.sameBF16("y", cy, gy)
	cdy, gdy := p.typed(l.Y, kernels.BFloat16, 1)
	cdx, gdx := p.typed(l.X, kernels.BFloat16, 0)
	cdw, gdw := p.typed(l.W, kernels.Float32, 1)
	cdb, gdb := p.typed(kernels.Shape{s.COut}, kernels.Float32, 1)
	p.ok(p.cpu.Conv2DBackward(cdx, cdw, cdb, cdy, cx, cw, s))
	p.ok(p.gpu.Conv2DBackward(gdx, gdw, gdb, gdy, gx, gw, s))
	p.sameBF16("dx", cdx, gdx)
	p.sameF32("dw", cdw, gdw, 1e-5, 1e-5)
	p.sameF32("db", cdb, gdb, 1e-5, 1e-5)
}

// TestLinearTF32: in TF32 precision Linear and its backward are cuBLASLt
// products with TF32 inputs and the bias in the epilogue; against the
// CPU's float32 they agree to TF32's precision (inputs rounded to 11
// significant bits, so a relative error of about 2^-11 per product).
func TestLinearTF32(t *testing.T) {
	s := kernels.LinearShape{Rows: 37, In: 13, Out: 19}
	p := precisionPair(t, 960, kernels.TF32)
	cx, gx := p.in(kernels.Shape{s.Rows, s.In}, 1)
	cw, gw := p.in(kernels.Shape{s.Out, s.In}, 1)
	cb, gb := p.in(kernels.Shape{s.Out}, 1)
	cy, gy := p.out(kernels.Shape{s.Rows, s.Out})
	p.ok(p.cpu.Linear(cy, cx, cw, cb, s))
	p.ok(p.gpu.Linear(gy, gx, gw, gb, s))
	p.same("y", cy, gy, 2e-3, 2e-3)
	cdy, gdy := p.in(kernels.Shape{s.Rows, s.Out}, 1)
	cdx, gdx := p.out(kernels.Shape{s.Rows, s.In})
	cdw, gdw := p.acc(kernels.Shape{s.Out, s.In})
	cdb, gdb := p.acc(kernels.Shape{s.Out})
	p.ok(p.cpu.LinearBackward(cdx, cdw, cdb, cdy, cx, cw, s))
	p.ok(p.gpu.LinearBackward(gdx, gdw, gdb, gdy, gx, gw, s))
	p.same("dx", cdx, gdx, 2e-3, 2e-3)
	p.same("dw", cdw, gdw, 2e-3, 1e-2)
	p.same("db", cdb, gdb, 1e-5, 1e-5)
}

// TestPrecisionDevice: bf16 and tf32 on a device older than sm_80 are
// errors naming the device, its compute capability and the setting; fp32
// is fine there, and an unknown precision is named.
func TestPrecisionDevice(t *testing.T) {
	g := openBackend(t)
	sd, ok := g.Driver().(*sim.Driver)
	if !ok {
		t.Skip("needs the simulator")
	}
	sd.SetDevice(cuda.DeviceInfo{Name: "Tesla V100-SXM2-16GB", Major: 7, Minor: 0})
	for _, p := range []kernels.Precision{kernels.BF16, kernels.TF32} {
		err := g.SetPrecision(p)
		if err == nil || !strings.Contains(err.Error(), "Tesla V100-SXM2-16GB is sm_70") || !strings.Contains(err.Error(), fmt.Sprintf("precision = %q", p)) {
			t.Errorf("SetPrecision(%s) on sm_70: %v", p, err)
		}
	}
	if err := g.SetPrecision(kernels.FP32); err != nil || g.Precision() != kernels.FP32 {
		t.Errorf("SetPrecision(fp32) on sm_70: %v", err)
	}
	if err := g.SetPrecision("fp16"); err == nil || !strings.Contains(err.Error(), `"fp16"`) {
		t.Errorf("SetPrecision(fp16): %v", err)
	}
	sd.SetDevice(cuda.DeviceInfo{Name: "NVIDIA A100", Major: 8})
	if err := g.SetPrecision(kernels.TF32); err != nil || g.Precision() != kernels.TF32 {
		t.Errorf("SetPrecision(tf32) on sm_80: %v", err)
	}
	if err := g.SetPrecision(kernels.BF16); err != nil || g.Precision() != kernels.BF16 {
		t.Errorf("SetPrecision(bf16) on sm_80: %v", err)
	}
}

// TestGEMMDTypeErrors: a product of a bf16 by a float32 matrix, a bf16
// output with a float32 bias (which cuBLASLt's epilogue cannot add and no
// bf16 bias kernel exists for) and an im2col convolution of bf16 patches
// by float32 weights are errors wrapping ErrDType, not silent conversions.
func TestGEMMDTypeErrors(t *testing.T) {
	p := precisionPair(t, 970, kernels.BF16)
	s := kernels.LinearShape{Rows: 3, In: 4, Out: 5}
	_, x16 := p.typed(kernels.Shape{3, 4}, kernels.BFloat16, 1)
	_, w16 := p.typed(kernels.Shape{5, 4}, kernels.BFloat16, 1)
	_, w32 := p.typed(kernels.Shape{5, 4}, kernels.Float32, 1)
	_, b32 := p.typed(kernels.Shape{5}, kernels.Float32, 1)
	_, y16 := p.typed(kernels.Shape{3, 5}, kernels.BFloat16, 0)
	cs := kernels.ConvShape{N: 1, H: 4, W: 4, CIn: 2, COut: 3, K: 2, Stride: 2}
	l := cs.Layer()
	_, cx := p.typed(l.X, kernels.BFloat16, 1)
	_, cw := p.typed(l.W, kernels.Float32, 1)
	_, cy := p.typed(l.Y, kernels.BFloat16, 0)
	wantErrors(t, []errCase{
		{"bf16 by float32", p.gpu.Linear(y16, x16, w32, kernels.Tensor{}, s), kernels.ErrDType},
		{"float32 bias, bf16 y", p.gpu.Linear(y16, x16, w16, b32, s), kernels.ErrDType},
		{"bf16 patches by float32 weights", p.gpu.Conv2D(cy, cx, cw, kernels.Tensor{}, cs), kernels.ErrDType},
	})
}
