package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// TestBatchNormLayers runs a conv–BatchNorm2d–Hardswish–BatchNorm2d–SiLU
// stack (the pattern of MobileNet and EfficientNet blocks) on the CUDA
// backend over the simulator and on the CPU from the same weights: two
// training steps, then one in evaluation. Outputs, dx, every parameter
// gradient, the running statistics and num_batches_tracked must agree.
func TestBatchNormLayers(t *testing.T) {
	p := newPair(t, 44)
	const cin, c = 3, 7
	build := func(be kernels.Backend) layers.Layer {
		conv, err := layers.NewConv2D(be, "conv", cin, c, 3, 2, 1, false, nil)
		p.ok(err)
		bn1, err := layers.NewBatchNorm2d(be, "bn1", c, layers.DefaultBNEps, layers.DefaultBNMomentum)
		p.ok(err)
		act1, err := layers.NewActivation(be, "act1", kernels.Hardswish)
		p.ok(err)
		bn2, err := layers.NewBatchNorm2d(be, "bn2", c, 1e-3, 0.01)
		p.ok(err)
		act2, err := layers.NewActivation(be, "act2", kernels.SiLU)
		p.ok(err)
		return layers.NewSequential("", conv, bn1, act1, bn2, act2)
	}
	lc, lg := build(p.cpu), build(p.gpu)
	for i, pc := range lc.Params() {
		v := p.randVals(pc.Value.Len(), 1)
		copy(pc.Value.Host32(), v)
		p.ok(p.gpu.Upload(lg.Params()[i].Value, v))
	}
	for step, shape := range []kernels.Shape{{2, 9, 7, cin}, {3, 5, 4, cin}, {1, 2, 1, cin}} {
		training := step < 2
		layers.SetTraining(lc, training)
		layers.SetTraining(lg, training)
		xc, xg := p.in(shape, 2)
		yc, err := lc.Forward(xc)
		p.ok(err)
		yg, err := lg.Forward(xg)
		p.ok(err)
		p.same("y", yc, yg, bnRtol, bnAtol)
		dyc, dyg := p.in(yc.Shape, 1)
		dxc, err := lc.Backward(dyc)
		p.ok(err)
		dxg, err := lg.Backward(dyg)
		p.ok(err)
		p.same("dx", dxc, dxg, bnRtol, bnAtol)
		for i, pc := range lc.Params() {
			p.same(pc.Name+" grad", pc.Grad, lg.Params()[i].Grad, bnRtol, bnAtol)
		}
		bg := layers.Buffers(lg)
		for i, b := range layers.Buffers(lc) {
			p.same(b.Name, b.Value, bg[i].Value, bnRtol, bnAtol)
		}
	}
}
