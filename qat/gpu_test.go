package qat_test

import (
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/kernels/gpu"
	"github.com/nextconv/nextconv/qat"
)

// TestFakeQuantLayerGPU runs the FakeQuant layer on the CUDA backend over
// the simulator (device statistics views, the read-back, uploads of
// qparams, LSQ gradients) and on the CPU, for a per-channel weight
// quantizer and an LSQ activation quantizer, and compares everything.
func TestFakeQuantLayerGPU(t *testing.T) {
	drv, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	g, err := gpu.New(drv)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := cpu.New()
	lsq := qat.ActivationQuant()
	lsq.LSQ = true
	for _, tc := range []struct {
		cfg      qat.QuantConfig
		channels int
		shape    kernels.Shape
	}{
		{qat.WeightQuant(), 37, kernels.Shape{37, 1, 3, 3}},
		{lsq, 1, kernels.Shape{2, 5, 5, 6}},
	} {
		fc, err := qat.NewFakeQuant(c, "q", tc.cfg, tc.channels)
		if err != nil {
			t.Fatal(err)
		}
		fg, err := qat.NewFakeQuant(g, "q", tc.cfg, tc.channels)
		if err != nil {
			t.Fatal(err)
		}
		rng := testutil.NewRand(9)
		for step := range 3 {
			if step == 2 {
				fc.FreezeObserver()
				fg.FreezeObserver()
			}
			xv := testutil.Rand(rng, tc.shape.Len(), float64(1+step))
			dv := testutil.Rand(rng, tc.shape.Len(), 1)
			xc, xg := qTensor(t, c, tc.shape, xv), qTensor(t, g, tc.shape, xv)
			yc, err := fc.Forward(xc)
			if err != nil {
				t.Fatal(err)
			}
			yg, err := fg.Forward(xg)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "y", qDownload(t, g, yg), yc.Host32(), 0, 0)
			dxc, err := fc.Backward(qTensor(t, c, tc.shape, dv))
			if err != nil {
				t.Fatal(err)
			}
			dxg, err := fg.Backward(qTensor(t, g, tc.shape, dv))
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "dx", qDownload(t, g, dxg), dxc.Host32(), 0, 0)
			sc, zc, err := fc.QParams()
			if err != nil {
				t.Fatal(err)
			}
			sg, zg, err := fg.QParams()
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "scale", sg, sc, 0, 0)
			for i := range zc {
				if zc[i] != zg[i] {
					t.Fatalf("zero point %d: gpu %d, cpu %d", i, zg[i], zc[i])
				}
			}
			if fc.Scale != nil {
				testutil.AllClose(t, "LSQ scale grad", qDownload(t, g, fg.Scale.Grad), fc.Scale.Grad.Host32(), 1e-5, 1e-7)
			}
		}
		if fc.Scale != nil && fc.Scale.Grad.Host32()[0] == 0 {
			t.Error("LSQ scale gradient stayed 0 after freezing")
		}
	}
}

func qDownload(t *testing.T, be kernels.Backend, x kernels.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	if err := be.Download(v, x); err != nil {
		t.Fatal(err)
	}
	return v
}
