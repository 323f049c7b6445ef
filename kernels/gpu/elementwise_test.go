package gpu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// streamSizes are element counts for the streaming ops: 1, odd sizes that
// are not multiples of 4, 32 or 256, a scaled-down Atto activation
// (3×5×7×37) and one large enough that the grid-stride loop wraps
// (more than streamMaxBlocks·streamThreads elements).
var streamSizes = []kernels.Shape{{1}, {7}, {3, 5, 7, 37}, {1027}, {streamMaxBlocks*streamThreads + 333}}

func TestAddMatchesCPU(t *testing.T) {
	p := newPair(t, 1)
	for _, s := range streamSizes {
		ac, ag := p.in(s, 2)
		bc, bg := p.in(s, 2)
		yc, yg := p.out(s)
		p.ok(p.cpu.Add(yc, ac, bc))
		p.ok(p.gpu.Add(yg, ag, bg))
		p.same(fmt.Sprintf("add %v", s), yc, yg, 0, 0)

		// y aliases a, then b.
		p.ok(p.cpu.Add(ac, ac, bc))
		p.ok(p.gpu.Add(ag, ag, bg))
		p.same(fmt.Sprintf("add %v, y = a", s), ac, ag, 0, 0)
		p.ok(p.cpu.Add(bc, ac, bc))
		p.ok(p.gpu.Add(bg, ag, bg))
		p.same(fmt.Sprintf("add %v, y = b", s), bc, bg, 0, 0)
	}
}

func TestScaleMatchesCPU(t *testing.T) {
	p := newPair(t, 2)
	for _, s := range streamSizes {
		for _, alpha := range []float64{0.3, -1.0 / 3, 0} {
			xc, xg := p.in(s, 3)
			yc, yg := p.out(s)
			p.ok(p.cpu.Scale(yc, xc, alpha))
			p.ok(p.gpu.Scale(yg, xg, alpha))
			p.same(fmt.Sprintf("scale %v by %v", s, alpha), yc, yg, 1e-6, 0)
			p.ok(p.cpu.Scale(xc, xc, alpha))
			p.ok(p.gpu.Scale(xg, xg, alpha))
			p.same(fmt.Sprintf("scale %v by %v in place", s, alpha), xc, xg, 1e-6, 0)
		}
	}
	// Scale rounds the float64 product once: 1/3 of 3 is exactly 1 in
	// float32 only when the factor is applied in float64.
	xc, xg := p.from(kernels.Shape{1}, []float32{3})
	p.ok(p.gpu.Scale(xg, xg, 1.0/3))
	p.ok(p.cpu.Scale(xc, xc, 1.0/3))
	p.same("scale 3 by 1/3", xc, xg, 0, 0)
}

func TestScaleSamplesMatchesCPU(t *testing.T) {
	p := newPair(t, 3)
	for _, tc := range []struct {
		x     kernels.Shape
		scale []float32
	}{
		{kernels.Shape{1, 1}, []float32{0.5}},
		{kernels.Shape{3, 5, 7, 37}, []float32{0, 1 / 0.9, 1 / 0.9}},
		{kernels.Shape{3, 1, 1, 161}, []float32{1.25, 0, -2}},
		{kernels.Shape{2, 300000}, []float32{1 / 0.8, 0}}, // per-sample loop longer than the grid
	} {
		sc, sg := p.from(kernels.Shape{len(tc.scale)}, tc.scale)
		xc, xg := p.in(tc.x, 1)
		yc, yg := p.out(tc.x)
		p.ok(p.cpu.ScaleSamples(yc, xc, sc))
		p.ok(p.gpu.ScaleSamples(yg, xg, sg))
		p.same(fmt.Sprintf("scale-samples %v", tc.x), yc, yg, 0, 0)
		p.ok(p.cpu.ScaleSamples(xc, xc, sc))
		p.ok(p.gpu.ScaleSamples(xg, xg, sg))
		p.same(fmt.Sprintf("scale-samples %v in place", tc.x), xc, xg, 0, 0)
	}
}

// channelShapes are [rows, C] for the layer-scale ops: C = 1, odd channel
// counts, C > 256 (two channel tiles: 300 → 2 × 160, 640 → 3 × 224), one row,
// and 1000 rows of 37 channels, which the backward splits into 3 row chunks.
var channelShapes = [][2]int{{1, 1}, {7, 1}, {1, 37}, {105, 37}, {1000, 37}, {15, 161}, {3, 300}, {5, 640}}

func TestChannelScaleMatchesCPU(t *testing.T) {
	p := newPair(t, 4)
	for _, rc := range channelShapes {
		s := kernels.Shape{rc[0], rc[1]}
		xc, xg := p.in(s, 1)
		gc, gg := p.in(kernels.Shape{rc[1]}, 1)
		yc, yg := p.out(s)
		p.ok(p.cpu.ChannelScale(yc, xc, gc))
		p.ok(p.gpu.ChannelScale(yg, xg, gg))
		p.same(fmt.Sprintf("channel-scale %v", s), yc, yg, 0, 0)
		p.ok(p.cpu.ChannelScale(xc, xc, gc))
		p.ok(p.gpu.ChannelScale(xg, xg, gg))
		p.same(fmt.Sprintf("channel-scale %v in place", s), xc, xg, 0, 0)
	}
}

// TestChannelScaleBackwardMatchesCPU runs layer scale's backward on
// float32 and on bf16 dy, x and dx (channel_scale_bwd_bf16, against the
// CPU emulation) on odd channel counts, one row and tiles wider than a
// block, in place and not: dx equal (bf16: within one ulp), dgamma
// (float32, accumulated) to 1e-6.
func TestChannelScaleBackwardMatchesCPU(t *testing.T) {
	p := newPair(t, 5)
	for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
		for _, rc := range channelShapes {
			s, cs := kernels.Shape{rc[0], rc[1]}, kernels.Shape{rc[1]}
			for _, alias := range []string{"", "dx = dy", "dx = x"} {
				name := fmt.Sprintf("channel-scale backward %v %v %s", dt, s, alias)
				xc, xg := p.inAs(dt, s, 1)
				dyc, dyg := p.inAs(dt, s, 1)
				gc, gg := p.in(cs, 1)
				dgc, dgg := p.acc(cs)
				dxc, dxg := p.outAs(dt, s)
				switch alias {
				case "dx = dy":
					dxc, dxg = dyc, dyg
				case "dx = x":
					dxc, dxg = xc, xg
				}
				p.ok(p.cpu.ChannelScaleBackward(dxc, dgc, dyc, xc, gc))
				p.ok(p.gpu.ChannelScaleBackward(dxg, dgg, dyg, xg, gg))
				if dt == kernels.BFloat16 {
					p.same16(name+" dx", dxc, dxg, 0)
				} else {
					p.same(name+" dx", dxc, dxg, 0, 0)
				}
				p.same(name+" dgamma", dgc, dgg, 1e-6, 1e-7)
			}
		}
	}
	// Mixed activation dtypes are refused, naming the odd one.
	s := kernels.Shape{3, 5}
	_, xg := p.in16(s, 1)
	_, dyg := p.in(s, 1)
	_, dxg := p.out16(s)
	_, gg := p.in(kernels.Shape{5}, 1)
	_, dgg := p.acc(kernels.Shape{5})
	if err := p.gpu.ChannelScaleBackward(dxg, dgg, dyg, xg, gg); !errors.Is(err, kernels.ErrDType) || !strings.Contains(err.Error(), "dy") {
		t.Errorf("float32 dy with bf16 x: %v, want an ErrDType naming dy", err)
	}
}

func TestChannelScaleBackwardDeterministic(t *testing.T) {
	p := newPair(t, 6)
	s, cs := kernels.Shape{1000, 37}, kernels.Shape{37}
	_, xg := p.in(s, 1)
	_, dyg := p.in(s, 1)
	_, gg := p.in(cs, 1)
	_, dxg := p.out(s)
	var first []float32
	for range 2 {
		dg, err := p.gpu.Alloc(cs)
		p.ok(err)
		p.ok(p.gpu.ChannelScaleBackward(dxg, dg, dyg, xg, gg))
		got := make([]float32, 37)
		p.ok(p.gpu.Download(got, dg))
		if first == nil {
			first = got
			continue
		}
		for c := range got {
			if math.Float32bits(got[c]) != math.Float32bits(first[c]) {
				t.Fatalf("dgamma[%d] = %v on the second run, %v on the first", c, got[c], first[c])
			}
		}
	}
}

func TestSumSquaresMatchesCPU(t *testing.T) {
	p := newPair(t, 7)
	// 1 000 003 elements: 245 blocks of partial sums.
	for _, s := range []kernels.Shape{{1}, {37}, {3, 5, 7, 37}, {1000003}} {
		xc, xg := p.in(s, 2)
		want := 0.0
		for _, v := range xc.Host32() {
			want += float64(v) * float64(v)
		}
		cpuSum, err := p.cpu.SumSquares(xc)
		p.ok(err)
		got, err := p.gpu.SumSquares(xg)
		p.ok(err)
		if d := math.Abs(got - cpuSum); d > 1e-12*cpuSum {
			t.Errorf("sum-squares %v: gpu %v, cpu %v (rel %.2g)", s, got, cpuSum, d/cpuSum)
		}
		if d := math.Abs(got - want); d > 1e-12*want {
			t.Errorf("sum-squares %v: gpu %v, float64 loop %v (rel %.2g)", s, got, want, d/want)
		}
	}
	// Large values whose squares overflow float32 stay finite in float64.
	_, xg := p.from(kernels.Shape{3}, []float32{3e20, -4e20, 0})
	got, err := p.gpu.SumSquares(xg)
	p.ok(err)
	if want := 25e40; math.Abs(got-want) > 1e-6*want {
		t.Errorf("sum-squares of 3e20, -4e20: %v, want %v", got, want)
	}
}

func TestEMAMatchesCPU(t *testing.T) {
	p := newPair(t, 8)
	for _, s := range streamSizes {
		for _, decay := range []float64{0.9998, 0.5, 0, 1} {
			ac, ag := p.in(s, 1)
			xc, xg := p.in(s, 1)
			p.ok(p.cpu.EMA(ac, xc, decay))
			p.ok(p.gpu.EMA(ag, xg, decay))
			p.same(fmt.Sprintf("ema %v decay %v", s, decay), ac, ag, 0, 0)
		}
	}
}

func TestElementwiseErrors(t *testing.T) {
	p := newPair(t, 9)
	_, a := p.in(kernels.Shape{2, 6}, 1)
	_, b := p.in(kernels.Shape{2, 6}, 1)
	_, short := p.in(kernels.Shape{11}, 1)
	_, five := p.in(kernels.Shape{5}, 1)
	hostT, _ := p.cpu.Alloc(kernels.Shape{2, 6})
	wantErrors(t, []errCase{
		{"add short b", p.gpu.Add(a, a, short), kernels.ErrShape},
		{"add nil y", p.gpu.Add(kernels.Tensor{}, a, b), kernels.ErrShape},
		{"add host a", p.gpu.Add(a, hostT, b), kernels.ErrDType},
		{"scale short y", p.gpu.Scale(short, a, 2), kernels.ErrShape},
		{"scale host y", p.gpu.Scale(hostT, a, 2), kernels.ErrDType},
		{"scale-samples 12 into 5", p.gpu.ScaleSamples(a, a, five), kernels.ErrShape},
		{"scale-samples host scale", p.gpu.ScaleSamples(a, a, hostT), kernels.ErrDType},
		{"channel-scale 12 by 5", p.gpu.ChannelScale(a, a, five), kernels.ErrShape},
		{"channel-scale backward short dgamma", p.gpu.ChannelScaleBackward(a, five, a, b, b), kernels.ErrShape},
		{"channel-scale backward host dy", p.gpu.ChannelScaleBackward(a, b, hostT, a, b), kernels.ErrDType},
		{"ema short x", p.gpu.EMA(a, short, 0.5), kernels.ErrShape},
		{"ema host avg", p.gpu.EMA(hostT, a, 0.5), kernels.ErrDType},
		{"ema NaN decay", p.gpu.EMA(a, b, math.NaN()), kernels.ErrNaN},
	})
	if err := p.gpu.EMA(a, b, 1.5); err == nil {
		t.Error("ema accepted decay 1.5")
	}
	if _, err := p.gpu.SumSquares(hostT); !errors.Is(err, kernels.ErrDType) {
		t.Errorf("sum-squares of a host tensor: %v", err)
	}
	if _, err := p.gpu.SumSquares(kernels.Tensor{}); !errors.Is(err, kernels.ErrShape) {
		t.Errorf("sum-squares of the nil tensor: %v", err)
	}
}
