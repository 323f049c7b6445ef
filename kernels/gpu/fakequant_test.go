package gpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// fqCase builds inputs for one QuantShape on both backends: x spread over
// the grid with ten steps to spare at each end (so both clipping sides
// occur), a tie (x·(1/s) = k + 0.5 exactly) in every channel, random dy,
// scales and integral zero points.
func (p *pair) fqCase(s kernels.QuantShape) (x, dy, scale, zp [2]kernels.Tensor) {
	p.t.Helper()
	C := s.Channels
	sc := make([]float32, C)
	zs := make([]float32, C)
	for c := range C {
		sc[c] = float32(0.002 + 0.2*p.rng.Float64())
		zs[c] = float32(math.Round(float64(s.QMin) + p.rng.Float64()*float64(s.QMax-s.QMin)))
	}
	xv := make([]float32, s.Len())
	dv := make([]float32, s.Len())
	for i := range xv {
		c := (i / s.Inner) % C
		lo := float64(s.QMin) - float64(zs[c]) - 10
		hi := float64(s.QMax) - float64(zs[c]) + 10
		xv[i] = float32((lo + p.rng.Float64()*(hi-lo)) * float64(sc[c]))
		dv[i] = float32(2*p.rng.Float64() - 1)
	}
	// one exact tie per channel, at its first element
	for c := range C {
		inv := 1 / sc[c]
		t := float32(2.5 * float64(sc[c]))
		for range 8 {
			if t*inv == 2.5 {
				break
			}
			if t*inv < 2.5 {
				t = math.Nextafter32(t, float32(math.Inf(1)))
			} else {
				t = math.Nextafter32(t, float32(math.Inf(-1)))
			}
		}
		xv[c*s.Inner] = t
	}
	x[0], x[1] = p.from(s.XShape(), xv)
	dy[0], dy[1] = p.from(s.XShape(), dv)
	scale[0], scale[1] = p.from(s.CShape(), sc)
	zp[0], zp[1] = p.from(s.CShape(), zs)
	return x, dy, scale, zp
}

// fqShapes cover both reduction layouts: per tensor longer than one block's
// run, weights per output channel (Linear, Conv2D, odd counts), NHWC
// per-channel activations (inner = 1, odd C, more than one column block and
// row chunk), a middle axis with inner < 32, and the 4- and 2-bit grids of
// low-bit QAT.
var fqShapes = []kernels.QuantShape{
	{Outer: 1, Channels: 1, Inner: 3*4096 + 77, QMin: -128, QMax: 127},
	{Outer: 1, Channels: 1, Inner: 5, QMin: 0, QMax: 255},
	{Outer: 1, Channels: 37, Inner: 5 * 7 * 7, QMin: -127, QMax: 127},
	{Outer: 1, Channels: 5, Inner: 3 * 3 * 3, QMin: -127, QMax: 127},
	{Outer: 161, Channels: 5, Inner: 1, QMin: 0, QMax: 255},
	{Outer: 2 * 7 * 7, Channels: 40, Inner: 1, QMin: -128, QMax: 127},
	{Outer: 200, Channels: 3, Inner: 7, QMin: -128, QMax: 127},
	{Outer: 3, Channels: 4, Inner: 37, QMin: -8, QMax: 7},
	// low-bit QAT: 4- and 2-bit weights per output channel, 4-bit activations
	{Outer: 1, Channels: 13, Inner: 3 * 3 * 5, QMin: -7, QMax: 7},
	{Outer: 1, Channels: 3, Inner: 2*4096 + 3, QMin: -1, QMax: 1},
	{Outer: 1, Channels: 1, Inner: 3*4096 + 5, QMin: -8, QMax: 7},
	{Outer: 3 * 5 * 5, Channels: 11, Inner: 1, QMin: -7, QMax: 7},
}

func TestFakeQuantMatchesCPU(t *testing.T) {
	p := newPair(t, 1)
	for _, s := range fqShapes {
		x, dy, scale, zp := p.fqCase(s)
		yc, yg := p.out(s.XShape())
		p.ok(p.cpu.FakeQuant(yc, x[0], scale[0], zp[0], s))
		p.ok(p.gpu.FakeQuant(yg, x[1], scale[1], zp[1], s))
		p.same("y", yc, yg, 0, 0)

		// STE only
		dxc, dxg := p.out(s.XShape())
		p.ok(p.cpu.FakeQuantBackward(dxc, kernels.Tensor{}, kernels.Tensor{}, dy[0], x[0], scale[0], zp[0], s, 1))
		p.ok(p.gpu.FakeQuantBackward(dxg, kernels.Tensor{}, kernels.Tensor{}, dy[1], x[1], scale[1], zp[1], s, 1))
		p.same("dx", dxc, dxg, 0, 0)

		// LSQ: dx and both parameter gradients, accumulated
		dxc, dxg = p.out(s.XShape())
		dsc, dsg := p.acc(s.CShape())
		dzc, dzg := p.acc(s.CShape())
		g := 1 / math.Sqrt(float64(s.Len()*s.QMax))
		p.ok(p.cpu.FakeQuantBackward(dxc, dsc, dzc, dy[0], x[0], scale[0], zp[0], s, g))
		p.ok(p.gpu.FakeQuantBackward(dxg, dsg, dzg, dy[1], x[1], scale[1], zp[1], s, g))
		p.same("LSQ dx", dxc, dxg, 0, 0)
		p.same("dscale", dsc, dsg, 1e-4, 1e-5)
		p.same("dzeroPoint", dzc, dzg, 1e-4, 1e-5)

		// scale gradient alone, no dx
		dsc, dsg = p.acc(s.CShape())
		p.ok(p.cpu.FakeQuantBackward(kernels.Tensor{}, dsc, kernels.Tensor{}, dy[0], x[0], scale[0], zp[0], s, 0.5))
		p.ok(p.gpu.FakeQuantBackward(kernels.Tensor{}, dsg, kernels.Tensor{}, dy[1], x[1], scale[1], zp[1], s, 0.5))
		p.same("dscale only", dsc, dsg, 1e-4, 1e-5)

		mnc, mng := p.out(s.CShape())
		mxc, mxg := p.out(s.CShape())
		p.ok(p.cpu.MinMax(mnc, mxc, x[0], s))
		p.ok(p.gpu.MinMax(mng, mxg, x[1], s))
		p.same("min", mnc, mng, 0, 0)
		p.same("max", mxc, mxg, 0, 0)
	}
}

// TestFakeQuantInPlaceGPU runs y = x and dx = dy aliased, as the contract
// allows.
func TestFakeQuantInPlaceGPU(t *testing.T) {
	p := newPair(t, 2)
	s := kernels.QuantShape{Outer: 2 * 7 * 7, Channels: 40, Inner: 1, QMin: -128, QMax: 127}
	x, dy, scale, zp := p.fqCase(s)
	yc, _ := p.out(s.XShape())
	p.ok(p.cpu.FakeQuant(yc, x[0], scale[0], zp[0], s))
	p.ok(p.gpu.FakeQuant(x[1], x[1], scale[1], zp[1], s))
	p.same("y in place", yc, x[1], 0, 0)
	x, dy, scale, zp = p.fqCase(s)
	dxc, _ := p.out(s.XShape())
	p.ok(p.cpu.FakeQuantBackward(dxc, kernels.Tensor{}, kernels.Tensor{}, dy[0], x[0], scale[0], zp[0], s, 1))
	p.ok(p.gpu.FakeQuantBackward(dy[1], kernels.Tensor{}, kernels.Tensor{}, dy[1], x[1], scale[1], zp[1], s, 1))
	p.same("dx in place", dxc, dy[1], 0, 0)
}

// TestFakeQuantSpecialValuesGPU matches the CPU on NaN and infinite inputs,
// the MinScale floor, and NaN propagation in MinMax (both layouts).
func TestFakeQuantSpecialValuesGPU(t *testing.T) {
	p := newPair(t, 3)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, s := range []kernels.QuantShape{
		{Outer: 1, Channels: 2, Inner: 4, QMin: -128, QMax: 127, MinScale: 1e-3},  // columns
		{Outer: 1, Channels: 2, Inner: 40, QMin: -128, QMax: 127, MinScale: 1e-3}, // runs
	} {
		xv := make([]float32, s.Len())
		for i := range xv {
			xv[i] = float32(i%7) * 0.05
		}
		copy(xv, []float32{nan, inf, -inf, 1})
		xv[s.Inner] = 2
		x0, x1 := p.from(s.XShape(), xv)
		sc0, sc1 := p.from(s.CShape(), []float32{0.5, 1e-9})
		z0, z1 := p.from(s.CShape(), []float32{2, 0})
		dy0, dy1 := p.in(s.XShape(), 1)
		yc, yg := p.out(s.XShape())
		p.ok(p.cpu.FakeQuant(yc, x0, sc0, z0, s))
		p.ok(p.gpu.FakeQuant(yg, x1, sc1, z1, s))
		// The NaN input stays NaN in y and in its channel's gradients.
		p.same("y", yc, yg, 0, 0, testutil.NaNEqual)
		dxc, dxg := p.out(s.XShape())
		dsc, dsg := p.acc(s.CShape())
		dzc, dzg := p.acc(s.CShape())
		p.ok(p.cpu.FakeQuantBackward(dxc, dsc, dzc, dy0, x0, sc0, z0, s, 1))
		p.ok(p.gpu.FakeQuantBackward(dxg, dsg, dzg, dy1, x1, sc1, z1, s, 1))
		p.same("dx", dxc, dxg, 0, 0)
		p.same("dscale", dsc, dsg, 1e-5, 1e-6, testutil.NaNEqual)
		p.same("dzeroPoint", dzc, dzg, 1e-5, 1e-6, testutil.NaNEqual)
		mnc, mng := p.out(s.CShape())
		mxc, mxg := p.out(s.CShape())
		p.ok(p.cpu.MinMax(mnc, mxc, x0, s))
		p.ok(p.gpu.MinMax(mng, mxg, x1, s))
		got := make([]float32, 2)
		p.ok(p.gpu.Download(got, mng))
		if !math.IsNaN(float64(got[0])) || got[1] != mnc.Host32()[1] {
			t.Errorf("%+v: gpu min = %v, want [NaN %v]", s, got, mnc.Host32()[1])
		}
		p.ok(p.gpu.Download(got, mxg))
		if !math.IsNaN(float64(got[0])) || got[1] != mxc.Host32()[1] {
			t.Errorf("%+v: gpu max = %v, want [NaN %v]", s, got, mxc.Host32()[1])
		}
	}
}

func TestFakeQuantErrorsGPU(t *testing.T) {
	p := newPair(t, 4)
	s := kernels.QuantShape{Outer: 1, Channels: 2, Inner: 3, QMin: -128, QMax: 127}
	xc, x := p.in(s.XShape(), 1)
	_, y := p.out(s.XShape())
	_, sc := p.from(s.CShape(), []float32{0.1, 0.1})
	_, zp := p.out(s.CShape())
	_, wrong := p.out(kernels.Shape{3})
	wantErrors(t, []errCase{
		{"host x", p.gpu.FakeQuant(y, xc, sc, zp, s), kernels.ErrDType},
		{"scale of 3", p.gpu.FakeQuant(y, x, wrong, zp, s), kernels.ErrShape},
		{"nil zero point", p.gpu.FakeQuant(y, x, sc, kernels.Tensor{}, s), kernels.ErrShape},
		{"QMin > QMax", p.gpu.FakeQuant(y, x, sc, zp, kernels.QuantShape{Outer: 1, Channels: 2, Inner: 3, QMin: 1, QMax: 0}), kernels.ErrShape},
		{"dscale of 3", p.gpu.FakeQuantBackward(y, wrong, kernels.Tensor{}, x, x, sc, zp, s, 1), kernels.ErrShape},
		{"Inf grad factor", p.gpu.FakeQuantBackward(y, sc, kernels.Tensor{}, x, x, sc, zp, s, math.Inf(1)), kernels.ErrShape},
		{"minmax max of 3", p.gpu.MinMax(sc, wrong, x, s), kernels.ErrShape},
		{"too many channels", p.gpu.MinMax(sc, sc, x, kernels.QuantShape{Outer: 1, Channels: fqMaxGridY + 1, Inner: 1, QMin: 0, QMax: 1}), kernels.ErrShape},
	})
}
