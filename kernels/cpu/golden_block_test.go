package cpu_test

// The ConvNeXt V2 and V1 blocks of layers/testdata/golden, composed from
// backend ops in the order of the official Block, forward and backward. It
// checks that the block golden files fit the op contracts and that the ops
// chain to PyTorch's block gradients; the layers package tests its own Block
// against the same files.

import (
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

func TestGoldenBlockFromOps(t *testing.T) {
	for _, file := range []string{"block_v2", "block_v1"} {
		path := filepath.Join("..", "..", "layers", "testdata", "golden", file+".safetensors")
		runGoldenFile(t, path, func(c *goldenCase) { blockFromOps(c, file == "block_v2") })
	}
}

func blockFromOps(c *goldenCase, v2 bool) {
	be := c.be
	n, h, w, ch := c.meta("N"), c.meta("H"), c.meta("W"), c.meta("dim")
	rows, hidden := n*h*w, 4*ch
	eps := c.g.Float(c.t, "eps")
	dws := kernels.DWConvShape{N: n, H: h, W: w, C: ch, K: c.meta("kernel"), Stride: 1}
	ns := kernels.NormShape{Rows: rows, C: ch, Eps: eps}
	l1 := kernels.LinearShape{Rows: rows, In: ch, Out: hidden}
	l2 := kernels.LinearShape{Rows: rows, In: hidden, Out: ch}
	gs := kernels.GRNShape{N: n, HW: h * w, C: hidden, Eps: eps}
	act := []int{n, h, w, ch}
	wide := []int{n, h, w, hidden}

	x := c.in("x", act...)
	mask := c.in("drop_mask", n)
	dwW, dwB := c.in("dwconv.weight", dws.WShape()...), c.in("dwconv.bias", ch)
	nW, nB := c.in("norm.weight", ch), c.in("norm.bias", ch)
	w1, b1 := c.in("pwconv1.weight", hidden, ch), c.in("pwconv1.bias", hidden)
	w2, b2 := c.in("pwconv2.weight", ch, hidden), c.in("pwconv2.bias", ch)

	// Forward: dwconv → norm → pwconv1 → GELU → [GRN] → pwconv2 → [gamma]
	// → drop path → + x.
	a1 := c.out(act...)
	c.ok(be.DWConv(a1, x, dwW, dwB, dws))
	c.check("inter.dwconv", a1, c.fwd)
	a2, mean, rstd := c.out(act...), c.out(rows), c.out(rows)
	c.ok(be.LayerNorm(a2, mean, rstd, a1, nW, nB, ns))
	c.check("inter.norm", a2, c.fwd)
	a3 := c.out(wide...)
	c.ok(be.Linear(a3, a2, w1, b1, l1))
	c.check("inter.pwconv1", a3, c.fwd)
	a4 := c.out(wide...)
	c.ok(be.GELU(a4, a3, kernels.GELUErf))
	c.check("inter.act", a4, c.fwd)
	a5, gnorm, grnGamma := a4, kernels.Tensor{}, kernels.Tensor{}
	if v2 {
		grnGamma = c.in("grn.gamma", hidden)
		a5, gnorm = c.out(wide...), c.out(n, hidden)
		c.ok(be.GRN(a5, gnorm, a4, grnGamma, c.in("grn.beta", hidden), gs))
		c.check("inter.grn", a5, c.fwd)
	}
	a6 := c.out(act...)
	c.ok(be.Linear(a6, a5, w2, b2, l2))
	c.check("inter.pwconv2", a6, c.fwd)
	branch, gamma := a6, kernels.Tensor{}
	if !v2 {
		gamma = c.in("gamma", ch)
		branch = c.out(act...)
		c.ok(be.ChannelScale(branch, a6, gamma))
		c.check("inter.gamma", branch, c.fwd)
	}
	y := c.out(act...)
	c.ok(be.ScaleSamples(y, branch, mask))
	c.ok(be.Add(y, x, y))
	c.check("y", y, c.fwd)

	// Backward, in reverse; the shortcut adds dy to dx at the end.
	dy := c.in("dy", act...)
	d := c.out(act...)
	c.ok(be.ScaleSamples(d, dy, mask))
	if !v2 {
		d6, dgamma := c.out(act...), c.acc("grad.gamma", ch)
		c.ok(be.ChannelScaleBackward(d6, dgamma, d, a6, gamma))
		c.checkAcc("grad.gamma", dgamma, c.grad)
		d = d6
	}
	d5, dw2, db2 := c.out(wide...), c.acc("grad.pwconv2.weight", ch, hidden), c.acc("grad.pwconv2.bias", ch)
	c.ok(be.LinearBackward(d5, dw2, db2, d, a5, w2, l2))
	c.checkAcc("grad.pwconv2.weight", dw2, c.grad)
	c.checkAcc("grad.pwconv2.bias", db2, c.grad)
	d4 := d5
	if v2 {
		d4 = c.out(wide...)
		dgg, dgb := c.acc("grad.grn.gamma", hidden), c.acc("grad.grn.beta", hidden)
		c.ok(be.GRNBackward(d4, dgg, dgb, d5, a4, gnorm, grnGamma, gs))
		c.checkAcc("grad.grn.gamma", dgg, c.grad)
		c.checkAcc("grad.grn.beta", dgb, c.grad)
	}
	d3 := c.out(wide...)
	c.ok(be.GELUBackward(d3, d4, a3, kernels.GELUErf))
	d2, dw1, db1 := c.out(act...), c.acc("grad.pwconv1.weight", hidden, ch), c.acc("grad.pwconv1.bias", hidden)
	c.ok(be.LinearBackward(d2, dw1, db1, d3, a2, w1, l1))
	c.checkAcc("grad.pwconv1.weight", dw1, c.grad)
	c.checkAcc("grad.pwconv1.bias", db1, c.grad)
	d1, dnW, dnB := c.out(act...), c.acc("grad.norm.weight", ch), c.acc("grad.norm.bias", ch)
	c.ok(be.LayerNormBackward(d1, dnW, dnB, d2, a1, mean, rstd, nW, ns))
	c.checkAcc("grad.norm.weight", dnW, c.grad)
	c.checkAcc("grad.norm.bias", dnB, c.grad)
	dx, ddwW, ddwB := c.out(act...), c.acc("grad.dwconv.weight", dws.WShape()...), c.acc("grad.dwconv.bias", ch)
	c.ok(be.DWConvBackward(dx, ddwW, ddwB, d1, x, dwW, dws))
	c.checkAcc("grad.dwconv.weight", ddwW, c.grad)
	c.checkAcc("grad.dwconv.bias", ddwB, c.grad)
	c.ok(be.Add(dx, dx, dy))
	c.check("dx", dx, c.grad)
}
