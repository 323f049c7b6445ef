package gpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// TestBF16FusedMLPLayer runs layers.FusedMLP (FC1 with its bf16 bias in
// cuBLASLt's BIAS epilogue, BiasGELUSumSq without a bias, GRNApply; backward GRNGELUBackward and FC1's
// product backward) in bf16 on the simulated CUDA backend and on the CPU
// emulation from the same bf16 weights and inputs, over an odd hidden width
// (13) and odd H·W (15): the output y, whose inputs already passed through
// two bf16 stores (the product and h), within 2 bf16 ulps (or the GRN
// tests' atol), and dx and every parameter gradient within a relative L2
// error of 1e-3, ten times tighter than the bf16 step's 1e-2.
func TestBF16FusedMLPLayer(t *testing.T) {
	p := precisionPair(t, 71, kernels.BF16)
	const in, hidden = 5, 13
	xs, ys := kernels.Shape{2, 3, 5, in}, kernels.Shape{2, 3, 5, hidden}
	build := func(be kernels.Backend) (*layers.FusedMLP, *layers.Arena) {
		fc1, err := layers.NewLinear(be, "mlp.fc1", in, hidden, true, nil)
		p.ok(err)
		grn, err := layers.NewGRN(be, "mlp.grn", hidden, 1e-6)
		p.ok(err)
		f, err := layers.NewFusedMLP(be, "mlp", fc1, layers.NewGELU(be, "mlp.act", kernels.GELUErf), grn)
		p.ok(err)
		a, err := layers.NewArena(be, f.Params())
		p.ok(err)
		return f, a
	}
	fc, ac := build(p.cpu)
	fg, ag := build(p.gpu)
	for i, pc := range ac.Params {
		v := p.randVals(pc.Value.Len(), 0.5)
		p.ok(p.cpu.Upload(pc.Value, v))
		p.ok(p.gpu.Upload(ag.Params[i].Value, v))
		p.ok(p.cpu.Zero(pc.Grad))
		p.ok(p.gpu.Zero(ag.Params[i].Grad))
	}
	p.ok(ac.SyncLow())
	p.ok(ag.SyncLow())
	xc, xg := p.in16(xs, 1)
	yc, err := fc.Forward(xc)
	p.ok(err)
	yg, err := fg.Forward(xg)
	p.ok(err)
	p.within16("y", yc, yg, 1, grnFwdAtol)
	dyc, dyg := p.in16(ys, 1)
	dxc, err := fc.Backward(dyc)
	p.ok(err)
	dxg, err := fg.Backward(dyg)
	p.ok(err)
	p.relL2("dx", dxc, dxg, 1e-5)
	for i, pc := range ac.Params {
		p.relL2("d"+pc.Name, pc.Grad, ag.Params[i].Grad, 1e-5)
	}
}

// within16 is same16 with up to ulps bf16 ulps allowed.
func (p *pair) within16(what string, c, g kernels.Tensor, ulps int, atol float64) {
	p.t.Helper()
	got, want := p.download(c, g)
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if u := bfloat16.ULPs(got[i], want[i]); u > ulps && !(d <= atol) {
			p.t.Errorf("%s[%d] = %v, emulation %v (%d bf16 ulps apart)", what, i, got[i], want[i], u)
			return
		}
	}
}

// relL2 fails unless ‖g − c‖₂ ≤ tol·‖c‖₂ for the CPU tensor c and the device
// tensor g.
func (p *pair) relL2(what string, c, g kernels.Tensor, tol float64) {
	p.t.Helper()
	got, want := p.download(c, g)
	var d, w float64
	for i, v := range want {
		e := float64(got[i]) - float64(v)
		d += e * e
		w += float64(v) * float64(v)
	}
	if e := math.Sqrt(d / w); !(e <= tol) {
		p.t.Errorf("%s: relative L2 error %.3g against the emulation, want ≤ %g", what, e, tol)
	}
}

// download returns the device tensor g and the CPU tensor c as float32.
func (p *pair) download(c, g kernels.Tensor) (got, want []float32) {
	p.t.Helper()
	got, want = make([]float32, g.Len()), make([]float32, c.Len())
	p.ok(p.gpu.Download(got, g))
	p.ok(p.cpu.Download(want, c))
	return got, want
}

// TestFusedBlock runs a float32 ConvNeXt V2 block with odd widths (dim 5,
// hidden 13, H·W = 15, drop path on one sample) through Block.Forward and
// Backward, the fused MLP, on the simulated CUDA backend and on the CPU
// backend from the same weights, and on the device also through the
// separate ops (the block's Residual): the output, dx and every parameter
// gradient agree within float32 rounding (rtol 1e-4) in both comparisons.
func TestFusedBlock(t *testing.T) {
	p := newPair(t, 79)
	cfg := layers.V2Block(5, 0.25)
	cfg.HiddenDim = 13
	xs := kernels.Shape{2, 3, 5, 5}
	type side struct {
		be kernels.Backend
		b  *layers.Block
		x  kernels.Tensor
	}
	build := func(be kernels.Backend) *layers.Block {
		b, err := layers.NewBlock(be, "stages.0.blocks.0", cfg, nil, philox.New(3))
		p.ok(err)
		if b.Fused == nil {
			t.Fatalf("%T: the V2 block has no fused MLP", be)
		}
		b.DropPath.FixedMask = []float32{1 / 0.75, 0}
		return b
	}
	c, g := side{be: p.cpu, b: build(p.cpu)}, side{be: p.gpu, b: build(p.gpu)}
	for i, pc := range c.b.Params() {
		v := p.randVals(pc.Value.Len(), 0.5)
		p.ok(p.cpu.Upload(pc.Value, v))
		p.ok(p.gpu.Upload(g.b.Params()[i].Value, v))
	}
	c.x, g.x = p.in(xs, 1)
	dyc, dyg := p.in(xs, 1)
	run := func(s side, l layers.Layer, dy kernels.Tensor) (y, dx kernels.Tensor, grads []kernels.Tensor) {
		for _, q := range s.b.Params() {
			p.ok(s.be.Zero(q.Grad))
		}
		y, err := l.Forward(s.x)
		p.ok(err)
		dx, err = l.Backward(dy)
		p.ok(err)
		for _, q := range s.b.Params() {
			grads = append(grads, q.Grad)
		}
		return y, dx, grads
	}
	yc, dxc, gc := run(c, c.b, dyc)
	// The device runs twice into the same gradients: each run is compared
	// before the next.
	yg, dxg, gg := run(g, g.b, dyg)
	p.same("fused y", yc, yg, 1e-4, 1e-6)
	p.same("fused dx", dxc, dxg, 1e-4, 1e-6)
	for i, q := range c.b.Params() {
		p.same("fused d"+q.Name, gc[i], gg[i], 1e-4, 1e-6)
	}
	ys, dxs, gs := run(g, g.b.Residual, dyg)
	p.same("separate y", yc, ys, 1e-4, 1e-6)
	p.same("separate dx", dxc, dxs, 1e-4, 1e-6)
	for i, q := range c.b.Params() {
		p.same("separate d"+q.Name, gc[i], gs[i], 1e-4, 1e-6)
	}
}
