package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// gateCases: HW = 1, one channel, odd channel counts, a sample count of 1,
// both gates; the logits are drawn from [−4, 4) so that the hard sigmoid's
// flat parts are hit as well as its slope.
var gateCases = []kernels.GateShape{
	{N: 2, HW: 1, C: 37}, {N: 1, HW: 35, C: 161, Gate: kernels.GateHardSigmoid}, {N: 3, HW: 7, C: 1},
	{N: 2, HW: 49, C: 96, Gate: kernels.GateHardSigmoid}, {N: 5, HW: 9, C: 17},
}

// TestChannelGateMatchesCPU compares y, dx and dg with the CPU backend, dx
// both written and skipped, with a NaN in x and in a gate logit.
func TestChannelGateMatchesCPU(t *testing.T) {
	for i, s := range gateCases {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			p := newPair(t, uint64(40+i))
			xs, gs := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.N, s.C}
			xv, gv := p.randVals(xs.Len(), 1), p.randVals(gs.Len(), 4)
			if i == 0 {
				xv[3], gv[len(gv)-1] = float32(math.NaN()), float32(math.NaN())
			}
			xc, xg := p.from(xs, xv)
			gc, gg := p.from(gs, gv)
			yc, yg := p.out(xs)
			p.ok(p.cpu.ChannelGate(yc, xc, gc, s))
			p.ok(p.gpu.ChannelGate(yg, xg, gg, s))
			p.same("y", yc, yg, 1e-6, 1e-7, testutil.NaNEqual)

			dyc, dyg := p.in(xs, 1)
			dxc, dxg := p.out(xs)
			dgc, dgg := p.out(gs)
			p.ok(p.cpu.ChannelGateBackward(dxc, dgc, dyc, xc, gc, s))
			p.ok(p.gpu.ChannelGateBackward(dxg, dgg, dyg, xg, gg, s))
			p.same("dx", dxc, dxg, 1e-6, 1e-7, testutil.NaNEqual)
			p.same("dg", dgc, dgg, 1e-5, 1e-6, testutil.NaNEqual)
			_, dg2 := p.out(gs)
			p.ok(p.gpu.ChannelGateBackward(kernels.Tensor{}, dg2, dyg, xg, gg, s))
			p.same("dg without dx", dgc, dg2, 1e-5, 1e-6, testutil.NaNEqual)
		})
	}
}

// TestChannelGateInPlace runs the forward with y = x, as the layer may.
func TestChannelGateInPlace(t *testing.T) {
	p := newPair(t, 48)
	s := kernels.GateShape{N: 3, HW: 5, C: 7}
	xc, xg := p.in(kernels.Shape{s.N, s.HW, s.C}, 1)
	gc, gg := p.in(kernels.Shape{s.N, s.C}, 3)
	yc, _ := p.out(xc.Shape)
	p.ok(p.cpu.ChannelGate(yc, xc, gc, s))
	p.ok(p.gpu.ChannelGate(xg, xg, gg, s))
	p.same("y in place", yc, xg, 1e-6, 1e-7)
}

// channelConvCases: kernels 1, 3, 5 and 7, a kernel wider than the
// channels, one channel, one sample, and more outputs than one block of
// the weight-gradient reduction (2·300 > 256).
var channelConvCases = []kernels.ChannelConvShape{
	{N: 2, C: 37, K: 3}, {N: 1, C: 2, K: 5}, {N: 3, C: 1, K: 3}, {N: 2, C: 300, K: 7}, {N: 4, C: 9, K: 1},
}

func TestChannelConvMatchesCPU(t *testing.T) {
	for i, s := range channelConvCases {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			p := newPair(t, uint64(50+i))
			xs := kernels.Shape{s.N, s.C}
			xc, xg := p.in(xs, 1)
			wc, wg := p.in(s.WShape(), 1)
			yc, yg := p.out(xs)
			p.ok(p.cpu.ChannelConv(yc, xc, wc, s))
			p.ok(p.gpu.ChannelConv(yg, xg, wg, s))
			p.same("y", yc, yg, 1e-6, 1e-7)

			dyc, dyg := p.in(xs, 1)
			dxc, dxg := p.out(xs)
			dwc, dwg := p.acc(s.WShape())
			p.ok(p.cpu.ChannelConvBackward(dxc, dwc, dyc, xc, wc, s))
			p.ok(p.gpu.ChannelConvBackward(dxg, dwg, dyg, xg, wg, s))
			p.same("dx", dxc, dxg, 1e-6, 1e-7)
			p.same("dw", dwc, dwg, 1e-6, 1e-6)
		})
	}
}

func TestAttentionErrors(t *testing.T) {
	p := newPair(t, 59)
	s := kernels.GateShape{N: 2, HW: 3, C: 5}
	_, x := p.in(kernels.Shape{2, 3, 5}, 1)
	_, g := p.in(kernels.Shape{2, 5}, 1)
	hostG, _ := p.cpu.Alloc(kernels.Shape{2, 5})
	cs := kernels.ChannelConvShape{N: 2, C: 5, K: 3}
	_, w := p.in(cs.WShape(), 1)
	wantErrors(t, []errCase{
		{"gate zero HW", p.gpu.ChannelGate(x, x, g, kernels.GateShape{N: 2, C: 5}), kernels.ErrShape},
		{"gate short g", p.gpu.ChannelGate(x, x, w, s), kernels.ErrShape},
		{"gate host g", p.gpu.ChannelGate(x, x, hostG, s), kernels.ErrDType},
		{"gate backward nil dg", p.gpu.ChannelGateBackward(x, kernels.Tensor{}, x, x, g, s), kernels.ErrShape},
		{"channel conv even K", p.gpu.ChannelConv(g, g, w, kernels.ChannelConvShape{N: 2, C: 5, K: 2}), kernels.ErrShape},
		{"channel conv w is x", p.gpu.ChannelConv(g, g, g, cs), kernels.ErrShape},
		{"channel conv backward host dx", p.gpu.ChannelConvBackward(hostG, w, g, g, w, cs), kernels.ErrDType},
	})
}

// TestAttentionLayersMatchCPU runs squeeze-and-excitation (GELU between its
// 1×1 convolutions, sigmoid and hard-sigmoid gates), ECA and a grouped 3×3
// convolution as layers on both backends from the same weights and input,
// and compares y, dx and every parameter gradient: the layers' composition
// of ops (reshapes, the pooled path's gradient added to the gate's) on the
// CUDA backend.
func TestAttentionLayersMatchCPU(t *testing.T) {
	type build func(be kernels.Backend) (layers.Layer, error)
	for i, tc := range []struct {
		name string
		x    kernels.Shape
		new  build
	}{
		{"se_sigmoid", kernels.Shape{2, 5, 3, 7}, func(be kernels.Backend) (layers.Layer, error) {
			return layers.NewSqueezeExcite(be, "se", 7, 3, layers.NewGELU(be, "se.act1", kernels.GELUErf), kernels.GateSigmoid, nil)
		}},
		{"se_hard_sigmoid", kernels.Shape{3, 1, 1, 5}, func(be kernels.Backend) (layers.Layer, error) {
			return layers.NewSqueezeExcite(be, "se", 5, 2, nil, kernels.GateHardSigmoid, nil)
		}},
		{"eca", kernels.Shape{2, 4, 3, 33}, func(be kernels.Backend) (layers.Layer, error) { return layers.NewECA(be, "eca", 33, 0, nil) }},
		{"conv_g3", kernels.Shape{2, 7, 5, 9}, func(be kernels.Backend) (layers.Layer, error) {
			return layers.NewGroupedConv2D(be, "conv", 9, 6, 3, 2, 1, 3, true, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, uint64(70+i))
			lc, err := tc.new(p.cpu)
			p.ok(err)
			lg, err := tc.new(p.gpu)
			p.ok(err)
			for j, pc := range lc.Params() {
				v := p.randVals(pc.Value.Len(), 1)
				copy(pc.Value.Host32(), v)
				p.ok(p.gpu.Upload(lg.Params()[j].Value, v))
			}
			xc, xg := p.in(tc.x, 1)
			yc, err := lc.Forward(xc)
			p.ok(err)
			yg, err := lg.Forward(xg)
			p.ok(err)
			p.same("y", yc, yg, 1e-5, 1e-6)
			dyc, dyg := p.in(yc.Shape, 1)
			dxc, err := lc.Backward(dyc)
			p.ok(err)
			dxg, err := lg.Backward(dyg)
			p.ok(err)
			p.same("dx", dxc, dxg, 1e-5, 1e-6)
			for j, pc := range lc.Params() {
				p.same("d"+pc.Name, pc.Grad, lg.Params()[j].Grad, 1e-4, 1e-5)
			}
		})
	}
}
