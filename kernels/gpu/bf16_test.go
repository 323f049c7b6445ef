package gpu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// The bf16 kernels are checked against the CPU backend's bf16 emulation
// (kernels/cpu, docs/BF16.md): both read the same bf16 inputs, compute in
// float32 and round each bf16 output once, so an output element may differ
// by at most one bf16 ulp (the float32 values before rounding differ in the
// last bits, which can straddle a rounding boundary), or by the float32
// op's own atol where the value is near zero (a cancelling result, such as
// GELU' near its zero, has no relative precision to compare).

// from16 returns bf16 tensors holding v rounded to bf16 on both backends.
func (p *pair) from16(s kernels.Shape, v []float32) (c, g kernels.Tensor) {
	p.t.Helper()
	c, err := p.cpu.AllocDType(s, kernels.BFloat16)
	p.ok(err)
	p.ok(p.cpu.Upload(c, v))
	g, err = p.gpu.AllocDType(s, kernels.BFloat16)
	p.ok(err)
	p.ok(p.gpu.Upload(g, v))
	return c, g
}

// in16 returns the same bf16 tensor of uniform values in [−scale, scale)
// on both backends.
func (p *pair) in16(s kernels.Shape, scale float64) (c, g kernels.Tensor) {
	p.t.Helper()
	return p.from16(s, p.randVals(s.Len(), scale))
}

// out16 returns a bf16 output tensor on both backends, NaN on the device.
func (p *pair) out16(s kernels.Shape) (c, g kernels.Tensor) {
	p.t.Helper()
	nan := make([]float32, s.Len())
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	c, g = p.from16(s, nan)
	p.ok(p.cpu.Zero(c))
	return c, g
}

// inAs is in (float32) or in16 by dt; outAs is out or out16.
func (p *pair) inAs(dt kernels.DType, s kernels.Shape, scale float64) (c, g kernels.Tensor) {
	p.t.Helper()
	if dt == kernels.BFloat16 {
		return p.in16(s, scale)
	}
	return p.in(s, scale)
}

func (p *pair) outAs(dt kernels.DType, s kernels.Shape) (c, g kernels.Tensor) {
	p.t.Helper()
	if dt == kernels.BFloat16 {
		return p.out16(s)
	}
	return p.out(s)
}

// same16 downloads the bf16 tensor g and compares it with the CPU
// emulation's c: every element equal, one bf16 ulp apart, or within atol.
// It logs how many elements differ.
func (p *pair) same16(what string, c, g kernels.Tensor, atol float64) {
	p.t.Helper()
	if dt := g.Data.DType(); dt != kernels.BFloat16 {
		p.t.Fatalf("%s is %v on the device, want bfloat16", what, dt)
	}
	got, want := make([]float32, g.Len()), make([]float32, c.Len())
	p.ok(p.gpu.Download(got, g))
	p.ok(p.cpu.Download(want, c))
	diff, bad := 0, 0
	for i := range got {
		u := bfloat16.ULPs(got[i], want[i])
		if u == 0 {
			continue
		}
		diff++
		if u > 1 && !(math.Abs(float64(got[i])-float64(want[i])) <= atol) && bad < 10 {
			bad++
			p.t.Errorf("%s[%d] = %v, emulation %v (%d bf16 ulps apart)", what, i, got[i], want[i], u)
		}
	}
	if diff > 0 {
		p.t.Logf("%s: %d of %d elements one ulp (or atol) from the emulation", what, diff, len(got))
	}
}

// bf16Shapes are the odd shapes of the elementwise tests: lengths that are
// not a multiple of 8 (scalar tails), shorter than one vector, and views
// that start off the 16-byte alignment (the all-scalar path).
var bf16Lens = []int{1, 7, 8, 13, 257, 1000, 4103}

// TestBF16UploadCopy checks Upload's rounding against internal/bfloat16,
// Download, Zero, and Copy between the dtypes (convert_f32_bf16 rounds to
// nearest even, convert_bf16_f32 is exact), on aligned and unaligned views.
func TestBF16UploadCopy(t *testing.T) {
	p := newPair(t, 41)
	for _, n := range bf16Lens {
		for _, off := range []int{0, 3} {
			t.Run(fmt.Sprintf("n%d_off%d", n, off), func(t *testing.T) {
				p.t = t
				v := p.randVals(n+off, 3)
				v[len(v)-1] = 1 + 1.0/256 // a tie: rounds to even (1)
				_, f := p.from(kernels.Shape{n + off}, v)
				_, h := p.from16(kernels.Shape{n + off}, v)
				hv, err := h.View(off, kernels.Shape{n})
				p.ok(err)
				fv, err := f.View(off, kernels.Shape{n})
				p.ok(err)
				got := make([]float32, n)
				p.ok(p.gpu.Download(got, hv))
				for i, x := range v[off:] {
					if got[i] != bfloat16.Round(x) {
						t.Fatalf("upload/download [%d]: %v, want %v", i, got[i], bfloat16.Round(x))
					}
				}
				// float32 -> bf16 on the device, into a NaN-filled tensor.
				_, d := p.out16(kernels.Shape{n + off})
				dv, err := d.View(off, kernels.Shape{n})
				p.ok(err)
				p.ok(p.gpu.Copy(dv, fv))
				p.ok(p.gpu.Download(got, dv))
				for i, x := range v[off:] {
					if got[i] != bfloat16.Round(x) {
						t.Fatalf("convert f32->bf16 [%d]: %v, want %v", i, got[i], bfloat16.Round(x))
					}
				}
				// bf16 -> float32 is exact; bf16 -> bf16 copies bytes.
				_, e := p.out(kernels.Shape{n})
				p.ok(p.gpu.Copy(e, hv))
				p.ok(p.gpu.Download(got, e))
				for i, x := range v[off:] {
					if got[i] != bfloat16.Round(x) {
						t.Fatalf("convert bf16->f32 [%d]: %v, want %v", i, got[i], bfloat16.Round(x))
					}
				}
				p.ok(p.gpu.Zero(dv))
				p.ok(p.gpu.Copy(dv, hv))
				p.ok(p.gpu.Download(got, dv))
				if got[n-1] != bfloat16.Round(v[len(v)-1]) {
					t.Fatalf("bf16 copy: %v", got[n-1])
				}
			})
		}
	}
}

// TestBF16Elementwise checks GELU, its backward, Add, ScaleSamples and
// ChannelScale on bf16 activations against the CPU emulation, in place
// and not, on aligned tensors and on views that start off the alignment.
func TestBF16Elementwise(t *testing.T) {
	p := newPair(t, 43)
	for _, n := range bf16Lens {
		for _, off := range []int{0, 1} {
			t.Run(fmt.Sprintf("n%d_off%d", n, off), func(t *testing.T) {
				p.t = t
				view := func(c, g kernels.Tensor) (kernels.Tensor, kernels.Tensor) {
					cv, err := c.View(off, kernels.Shape{n})
					p.ok(err)
					gv, err := g.View(off, kernels.Shape{n})
					p.ok(err)
					return cv, gv
				}
				s := kernels.Shape{n + off}
				xc, xg := view(p.from16(s, geluInputs(p, n+off)))
				dyc, dyg := view(p.in16(s, 1))
				for _, approx := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
					yc, yg := view(p.out16(s))
					p.ok(p.cpu.GELU(yc, xc, approx))
					p.ok(p.gpu.GELU(yg, xg, approx))
					p.same16("gelu y", yc, yg, geluFwdAtol)
					dxc, dxg := view(p.out16(s))
					p.ok(p.cpu.GELUBackward(dxc, dyc, xc, approx))
					p.ok(p.gpu.GELUBackward(dxg, dyg, xg, approx))
					p.same16("gelu dx", dxc, dxg, geluBwdAtol)
				}
				yc, yg := view(p.out16(s))
				p.ok(p.cpu.Add(yc, xc, dyc))
				p.ok(p.gpu.Add(yg, xg, dyg))
				p.same16("add", yc, yg, 0)
				// In place: y = y + x.
				p.ok(p.cpu.Add(yc, yc, xc))
				p.ok(p.gpu.Add(yg, yg, xg))
				p.same16("add in place", yc, yg, 0)

				const samples = 1
				scc, scg := p.from(kernels.Shape{samples}, []float32{1 / 0.7})
				p.ok(p.cpu.ScaleSamples(yc, xc, scc))
				p.ok(p.gpu.ScaleSamples(yg, xg, scg))
				p.same16("scale samples", yc, yg, 0)
				gc, gg := p.in(kernels.Shape{1}, 2)
				p.ok(p.cpu.ChannelScale(yc, xc, gc))
				p.ok(p.gpu.ChannelScale(yg, xg, gg))
				p.same16("channel scale", yc, yg, 0)
			})
		}
	}
}

// TestBF16ScaleChannels runs ScaleSamples and ChannelScale with several
// samples and an odd channel count, so that samples start off the 16-byte
// alignment and channels wrap inside a vector.
func TestBF16ScaleChannels(t *testing.T) {
	p := newPair(t, 47)
	s := kernels.Shape{5, 3, 1, 13}
	xc, xg := p.in16(s, 2)
	yc, yg := p.out16(s)
	scc, scg := p.from(kernels.Shape{5}, []float32{0, 1 / 0.8, 1 / 0.8, 0, 1.25})
	p.ok(p.cpu.ScaleSamples(yc, xc, scc))
	p.ok(p.gpu.ScaleSamples(yg, xg, scg))
	p.same16("scale samples", yc, yg, 0)
	gc, gg := p.in(kernels.Shape{13}, 1)
	p.ok(p.cpu.ChannelScale(yc, xc, gc))
	p.ok(p.gpu.ChannelScale(yg, xg, gg))
	p.same16("channel scale", yc, yg, 0)
	p.ok(p.gpu.ChannelScale(xg, xg, gg)) // in place
	p.same16("channel scale in place", yc, xg, 0)
}

// TestBF16Errors: a float32 and a bf16 activation in one call, and a bf16
// tensor given to an op without bf16 kernels, are errors wrapping ErrDType
// that name the tensor.
func TestBF16Errors(t *testing.T) {
	p := newPair(t, 53)
	s := kernels.Shape{4, 8}
	_, x16 := p.in16(s, 1)
	_, x32 := p.in(s, 1)
	_, g := p.in(kernels.Shape{8}, 1)
	mixed := p.gpu.Add(x16, x16, x32)
	if !errors.Is(mixed, kernels.ErrDType) || !strings.Contains(mixed.Error(), "b is float32 but a is bfloat16") {
		t.Errorf("mixed Add: %v", mixed)
	}
	fq := p.gpu.FakeQuant(x16, x16, g, g, kernels.QuantShape{Outer: 4, Channels: 8, Inner: 1, QMin: -128, QMax: 127, MinScale: 1e-8})
	if !errors.Is(fq, kernels.ErrDType) || !strings.Contains(fq.Error(), "x is bfloat16") {
		t.Errorf("bf16 FakeQuant: %v", fq)
	}
	if _, err := p.gpu.AllocDType(s, kernels.Float64); !errors.Is(err, kernels.ErrDType) {
		t.Errorf("float64 alloc: %v", err)
	}
}

// TestBF16LayerNorm checks LayerNorm and LayerNorm+GELU, forward and
// backward, on bf16 activations against the CPU emulation: odd channel
// counts (partial warps), one row, a channel count that is a multiple of 8,
// the global-slab backward (C = 640), a large mean, and in place (y = x,
// dx = dy). Statistics and parameter gradients are float32 and get the
// float32 tests' tolerances; y and dx are compared at bf16.
func TestBF16LayerNorm(t *testing.T) {
	p := newPair(t, 59)
	cases := []lnCase{{1, 13, 0}, {5, 3, 0}, {7, 37, 0}, {11, 40, 0}, {3, 640, 0}, {9, 160, 100}}
	for _, tc := range cases {
		for _, fused := range []bool{false, true} {
			for _, alias := range []bool{false, true} {
				t.Run(fmt.Sprintf("rows%d_C%d_off%g_gelu%v_alias%v", tc.rows, tc.C, tc.offset, fused, alias), func(t *testing.T) {
					p.t = t
					lnCheckPair16(p, tc, fused, alias)
				})
			}
		}
	}
}

// lnCheckPair16 is lnCheckPair on bf16 x, y, dy and dx (erf GELU when
// fused).
func lnCheckPair16(p *pair, tc lnCase, fused, alias bool) {
	p.t.Helper()
	const approx = kernels.GELUErf
	s := kernels.NormShape{Rows: tc.rows, C: tc.C, Eps: 1e-6}
	rc, c, r := kernels.Shape{tc.rows, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.rows}
	xv := make([]float32, rc.Len())
	for i := range xv {
		xv[i] = float32(tc.offset + 2*p.rng.Float64() - 1)
	}
	xc, xg := p.from16(rc, xv)
	wc, wg := p.in(c, 1)
	bc, bg := p.in(c, 0.5)
	yc, yg := p.out16(rc)
	if alias {
		yg = xg
	}
	mc, mg := p.out(r)
	sc, sg := p.out(r)
	if fused {
		p.ok(p.cpu.LayerNormGELU(yc, mc, sc, xc, wc, bc, s, approx))
		p.ok(p.gpu.LayerNormGELU(yg, mg, sg, xg, wg, bg, s, approx))
	} else {
		p.ok(p.cpu.LayerNorm(yc, mc, sc, xc, wc, bc, s))
		p.ok(p.gpu.LayerNorm(yg, mg, sg, xg, wg, bg, s))
	}
	p.same16("y", yc, yg, lnFwdAtol)
	p.same("mean", mc, mg, lnFwdRtol, 1e-7*(1+tc.offset))
	p.same("rstd", sc, sg, lnFwdRtol, 0)

	if alias {
		_, xg = p.from16(rc, xv)
	}
	mg, sg = p.device(mc), p.device(sc)
	dyc, dyg := p.in16(rc, 1)
	dxc, dxg := p.out16(rc)
	if alias {
		dxg = dyg
	}
	dwc, dwg := p.acc(c)
	dbc, dbg := p.acc(c)
	if fused {
		p.ok(p.cpu.LayerNormGELUBackward(dxc, dwc, dbc, dyc, xc, mc, sc, wc, bc, s, approx))
		p.ok(p.gpu.LayerNormGELUBackward(dxg, dwg, dbg, dyg, xg, mg, sg, wg, bg, s, approx))
	} else {
		p.ok(p.cpu.LayerNormBackward(dxc, dwc, dbc, dyc, xc, mc, sc, wc, s))
		p.ok(p.gpu.LayerNormBackward(dxg, dwg, dbg, dyg, xg, mg, sg, wg, s))
	}
	p.same16("dx", dxc, dxg, lnBwdAtol)
	p.same("dw", dwc, dwg, lnBwdRtol, lnBwdAtol)
	p.same("db", dbc, dbg, lnBwdRtol, lnBwdAtol)
}

// TestBF16GRN checks GRN and its backward on bf16 activations against the
// CPU emulation: HW = 1, odd C, more than one HW chunk, an all-zero sample
// and a zero channel, a Atto-like width, in place and not. C = 320, 24 and
// 40 take the 8-channel statistics kernels (grn_sumsq_v8_bf16,
// grn_bwd_sums_v8_bf16; TestBF16GRNMLPVector checks the choice), odd C the
// scalar ones. gnorm and the parameter gradients are float32 (float32
// tolerances); y and dx bf16.
func TestBF16GRN(t *testing.T) {
	p := newPair(t, 61)
	cases := []grnCase{{2, 1, 37, []int{1}, []int{36}}, {2, 35, 3, nil, nil}, {3, 150, 37, []int{0}, nil}, {2, 25, 320, nil, []int{0, 7}},
		{3, 150, 24, []int{1}, []int{5}}, {2, 1, 40, nil, nil}}
	for _, tc := range cases {
		for _, alias := range []bool{false, true} {
			t.Run(fmt.Sprintf("N%d_HW%d_C%d_alias%v", tc.N, tc.HW, tc.C, alias), func(t *testing.T) {
				p.t = t
				s := kernels.GRNShape{N: tc.N, HW: tc.HW, C: tc.C, Eps: 1e-6}
				xs, c, nc := kernels.Shape{tc.N, tc.HW, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.N, tc.C}
				xv := p.randVals(xs.Len(), 1)
				for _, n := range tc.zero {
					clear(xv[n*tc.HW*tc.C : (n+1)*tc.HW*tc.C])
				}
				for _, ch := range tc.zeroC {
					for r := 0; r < tc.N*tc.HW; r++ {
						xv[r*tc.C+ch] = 0
					}
				}
				xc, xg := p.from16(xs, xv)
				gc, gg := p.in(c, 1)
				bc, bg := p.in(c, 1)
				yc, yg := p.out16(xs)
				if alias {
					yg = xg
				}
				nc1, ng := p.out(nc)
				p.ok(p.cpu.GRN(yc, nc1, xc, gc, bc, s))
				p.ok(p.gpu.GRN(yg, ng, xg, gg, bg, s))
				p.same16("y", yc, yg, grnFwdAtol)
				p.same("gnorm", nc1, ng, grnFwdRtol, 0)

				if alias {
					_, xg = p.from16(xs, xv)
				}
				ng = p.device(nc1)
				dyc, dyg := p.in16(xs, 1)
				dxc, dxg := p.out16(xs)
				if alias {
					dxg = dyg
				}
				dgc, dgg := p.acc(c)
				dbc, dbg := p.acc(c)
				p.ok(p.cpu.GRNBackward(dxc, dgc, dbc, dyc, xc, nc1, gc, s))
				p.ok(p.gpu.GRNBackward(dxg, dgg, dbg, dyg, xg, ng, gg, s))
				p.same16("dx", dxc, dxg, grnBwdAtol)
				p.same("dgamma", dgc, dgg, grnBwdRtol, grnBwdAtol)
				p.same("dbeta", dbc, dbg, grnBwdRtol, grnBwdAtol)
			})
		}
	}
}

// TestBF16AvgPool checks global average pooling and its backward on bf16
// activations against the CPU emulation (HW = 1, C = 1, odd C).
func TestBF16AvgPool(t *testing.T) {
	p := newPair(t, 67)
	for _, s := range poolShapes {
		xc, xg := p.in16(kernels.Shape{s.N, s.HW, s.C}, 2)
		yc, yg := p.out16(kernels.Shape{s.N, s.C})
		p.ok(p.cpu.AvgPool(yc, xc, s))
		p.ok(p.gpu.AvgPool(yg, xg, s))
		p.same16(fmt.Sprintf("avgpool %+v", s), yc, yg, 0)
		dyc, dyg := p.in16(kernels.Shape{s.N, s.C}, 2)
		dxc, dxg := p.out16(kernels.Shape{s.N, s.HW, s.C})
		p.ok(p.cpu.AvgPoolBackward(dxc, dyc, s))
		p.ok(p.gpu.AvgPoolBackward(dxg, dyg, s))
		p.same16(fmt.Sprintf("avgpool backward %+v", s), dxc, dxg, 0)
	}
}

// view16 returns bf16 tensors of shape s holding v (rounded) on both
// backends, the device one a view that starts off elements into a larger
// allocation: off = 1 puts it off the 16-byte alignment.
func (p *pair) view16(s kernels.Shape, v []float32, off int) (c, g kernels.Tensor) {
	p.t.Helper()
	c, _ = p.from16(s, v)
	_, big := p.from16(kernels.Shape{off + s.Len()}, append(make([]float32, off), v...))
	g, err := big.View(off, s)
	p.ok(err)
	return c, g
}

// TestBF16VectorPaths checks the bf16 kernels with 16-byte vector accesses
// (GRN's apply passes, LayerNorm with C a multiple of 8, average pooling)
// on shapes that take the vector path (aligned, C and H·W·C multiples of
// 8) and on the same shapes through views one element off the alignment
// (the scalar path), against the CPU emulation as the other bf16 tests do.
func TestBF16VectorPaths(t *testing.T) {
	p := newPair(t, 73)
	for _, off := range []int{0, 1} {
		t.Run(fmt.Sprintf("off%d", off), func(t *testing.T) {
			p.t = t
			act := func(s kernels.Shape, scale float64) (c, g kernels.Tensor) {
				return p.view16(s, p.randVals(s.Len(), scale), off)
			}
			gs := kernels.GRNShape{N: 2, HW: 5, C: 24, Eps: 1e-6}
			xs, cs, ns := kernels.Shape{gs.N, gs.HW, gs.C}, kernels.Shape{gs.C}, kernels.Shape{gs.N, gs.C}
			xc, xg := act(xs, 1)
			gc, gg := p.in(cs, 1)
			bc, bg := p.in(cs, 1)
			yc, yg := act(xs, 1)
			nc, ng := p.out(ns)
			p.ok(p.cpu.GRN(yc, nc, xc, gc, bc, gs))
			p.ok(p.gpu.GRN(yg, ng, xg, gg, bg, gs))
			p.same16("grn y", yc, yg, grnFwdAtol)
			dyc, dyg := act(xs, 1)
			dxc, dxg := act(xs, 1)
			dgc, dgg := p.acc(cs)
			dbc, dbg := p.acc(cs)
			p.ok(p.cpu.GRNBackward(dxc, dgc, dbc, dyc, xc, nc, gc, gs))
			p.ok(p.gpu.GRNBackward(dxg, dgg, dbg, dyg, xg, p.device(nc), gg, gs))
			p.same16("grn dx", dxc, dxg, grnBwdAtol)
			p.same("grn dgamma", dgc, dgg, grnBwdRtol, grnBwdAtol)

			ls := kernels.NormShape{Rows: 5, C: 48, Eps: 1e-6}
			rs, lc := kernels.Shape{ls.Rows, ls.C}, kernels.Shape{ls.C}
			for _, fused := range []bool{false, true} {
				lx, lxg := act(rs, 2)
				wc, wg := p.in(lc, 1)
				lb, lbg := p.in(lc, 0.5)
				ly, lyg := act(rs, 1)
				mc, mg := p.out(kernels.Shape{ls.Rows})
				sc, sg := p.out(kernels.Shape{ls.Rows})
				ldy, ldyg := act(rs, 1)
				ldx, ldxg := act(rs, 1)
				dwc, dwg := p.acc(lc)
				dbc2, dbg2 := p.acc(lc)
				if fused {
					p.ok(p.cpu.LayerNormGELU(ly, mc, sc, lx, wc, lb, ls, kernels.GELUErf))
					p.ok(p.gpu.LayerNormGELU(lyg, mg, sg, lxg, wg, lbg, ls, kernels.GELUErf))
					p.ok(p.cpu.LayerNormGELUBackward(ldx, dwc, dbc2, ldy, lx, mc, sc, wc, lb, ls, kernels.GELUErf))
					p.ok(p.gpu.LayerNormGELUBackward(ldxg, dwg, dbg2, ldyg, lxg, p.device(mc), p.device(sc), wg, lbg, ls, kernels.GELUErf))
				} else {
					p.ok(p.cpu.LayerNorm(ly, mc, sc, lx, wc, lb, ls))
					p.ok(p.gpu.LayerNorm(lyg, mg, sg, lxg, wg, lbg, ls))
					p.ok(p.cpu.LayerNormBackward(ldx, dwc, dbc2, ldy, lx, mc, sc, wc, ls))
					p.ok(p.gpu.LayerNormBackward(ldxg, dwg, dbg2, ldyg, lxg, p.device(mc), p.device(sc), wg, ls))
				}
				p.same16(fmt.Sprintf("layernorm gelu=%v y", fused), ly, lyg, lnFwdAtol)
				p.same(fmt.Sprintf("layernorm gelu=%v rstd", fused), sc, sg, lnFwdRtol, 0)
				p.same16(fmt.Sprintf("layernorm gelu=%v dx", fused), ldx, ldxg, lnBwdAtol)
				p.same(fmt.Sprintf("layernorm gelu=%v dw", fused), dwc, dwg, lnBwdRtol, lnBwdAtol)
				p.same(fmt.Sprintf("layernorm gelu=%v db", fused), dbc2, dbg2, lnBwdRtol, lnBwdAtol)
			}

			ps := kernels.PoolShape{N: 3, HW: 5, C: 16}
			px, pxg := act(kernels.Shape{ps.N, ps.HW, ps.C}, 2)
			py, pyg := act(kernels.Shape{ps.N, ps.C}, 1)
			p.ok(p.cpu.AvgPool(py, px, ps))
			p.ok(p.gpu.AvgPool(pyg, pxg, ps))
			p.same16("avgpool", py, pyg, 0)
			pdy, pdyg := act(kernels.Shape{ps.N, ps.C}, 2)
			pdx, pdxg := act(kernels.Shape{ps.N, ps.HW, ps.C}, 1)
			p.ok(p.cpu.AvgPoolBackward(pdx, pdy, ps))
			p.ok(p.gpu.AvgPoolBackward(pdxg, pdyg, ps))
			p.same16("avgpool backward", pdx, pdxg, 0)
		})
	}
}
