package gpu

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/internal/testutil/steptest"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// TestTrainingStep runs whole ConvNeXt training steps — forward, label-
// smoothed cross-entropy, backward, AdamW with weight decay groups — on the
// CUDA backend (over the simulator) and on the CPU backend from the same
// initial weights, inputs and drop-path masks, and requires the loss, every
// parameter gradient (rtol 1e-4) and the updated weights to agree.
func TestTrainingStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() models.Config
	}{
		{"v2_stem2", func() models.Config {
			c, _ := models.Variant("atto")
			c.Dims, c.Depths, c.InChans, c.NumClasses, c.StemPatch, c.DropPath = []int{8, 16, 24, 32}, []int{1, 1, 2, 1}, 3, 5, 2, 0.3
			return c
		}},
		{"v1_stem4_k5", func() models.Config {
			c, _ := models.Variant("convnext_atto")
			c.Dims, c.Depths, c.InChans, c.NumClasses, c.Kernel, c.LayerScale = []int{8, 16, 16, 24}, []int{1, 1, 1, 1}, 1, 3, 5, 0.5
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 5)
			cfg := tc.cfg()
			const n = 3
			size := cfg.StemPatch * 8
			xc, xg := p.in(kernels.Shape{n, size, size, cfg.InChans}, 1)
			targets, err := layers.SmoothedTargets([]int{0, 2, 1}, cfg.NumClasses, 0.1)
			p.ok(err)
			tcpu, tg := p.from(kernels.Shape{n, cfg.NumClasses}, targets)

			type run struct {
				be    kernels.Backend
				m     *models.Model
				opt   *optim.Optimizer
				x, tg kernels.Tensor
				loss  []float32
			}
			var runs []*run
			for _, r := range []*run{{be: p.cpu, x: xc, tg: tcpu}, {be: p.gpu, x: xg, tg: tg}} {
				m, err := models.New(r.be, cfg, 11)
				p.ok(err)
				o, err := optim.New(r.be, m.Arena, optim.DefaultConfig(), nil)
				p.ok(err)
				r.m, r.opt = m, o
				runs = append(runs, r)
			}
			for step := range 2 {
				for _, r := range runs {
					ce := layers.NewCrossEntropy(r.be)
					p.ok(r.m.Arena.ZeroGrad())
					logits, err := r.m.Forward(r.x)
					p.ok(err)
					loss, err := ce.Forward(logits, r.tg)
					p.ok(err)
					r.loss = make([]float32, n)
					p.ok(r.be.Download(r.loss, loss))
					d, err := ce.Backward()
					p.ok(err)
					p.ok(r.m.Backward(d))
				}
				c, g := runs[0], runs[1]
				testutil.AllClose(t, "loss", g.loss, c.loss, 1e-4, 1e-6)
				for i, pc := range c.m.Params() {
					p.same(pc.Name+" grad", pc.Grad, g.m.Params()[i].Grad, 1e-4, 1e-6)
				}
				const lr = 1e-2
				for _, r := range runs {
					p.ok(r.opt.Step(lr))
				}
				// AdamW divides each gradient by its own magnitude, so a
				// gradient of ~1e-8 that the backends round differently
				// moves its weight by a visibly different fraction of lr;
				// the absolute slack of lr/1000 admits that, while a wrong
				// sign (2·lr) or a missed update (lr) still fails.
				for i, pc := range c.m.Params() {
					p.same(pc.Name+" after step", pc.Value, g.m.Params()[i].Value, 1e-4, lr/1000)
				}
				if t.Failed() {
					t.Fatalf("step %d diverged", step+1)
				}
			}
		})
	}
}

// TestBF16TrainingStep runs a whole ConvNeXt V2 and V1 training step
// (internal/testutil/steptest: forward, label-smoothed cross-entropy,
// backward, AdamW) in bf16 on the CUDA backend over the simulator, in bf16
// on the CPU emulation and in fp32 on the CPU, from the same weights and
// batch: the device step matches the emulation (loss within 1e-3
// relative, every parameter gradient within 1e-2 relative L2 error) and
// the fp32 step within 5e-2 (docs/BF16.md §6).
func TestBF16TrainingStep(t *testing.T) {
	for _, c := range steptest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			p := precisionPair(t, 1, kernels.BF16)
			got, err := steptest.Run(p.gpu, c, 11)
			p.ok(err)
			emu, err := steptest.Run(p.cpu, c, 11)
			p.ok(err)
			fp32, err := steptest.Run(cpu.New(), c, 11)
			p.ok(err)
			worst, err := steptest.Compare(got, emu, 1e-3, 1e-2)
			if err != nil {
				t.Errorf("against the CPU emulation: %v", err)
			}
			worst32, err := steptest.Compare(got, fp32, 5e-2, 5e-2)
			if err != nil {
				t.Errorf("against fp32: %v", err)
			}
			t.Logf("loss gpu bf16 %.6f, emulation %.6f, fp32 %.6f; worst gradient error %.3g against the emulation, %.3g against fp32",
				got.Loss, emu.Loss, fp32.Loss, worst, worst32)
			if !got.Representable {
				t.Error("a bf16 device tensor holds a value bfloat16 cannot represent")
			}
		})
	}
}
