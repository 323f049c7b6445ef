package qat_test

import (
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/qat"
)

// TestObserverGolden feeds PyTorch's batches through a FakeQuant with a
// MovingAverageObserver (the backend's MinMax, the host EMA, QParams) and
// matches PyTorch's MovingAverage(PerChannel)MinMaxObserver after every
// batch: running min and max, scale and zero point, all bit for bit.
func TestObserverGolden(t *testing.T) {
	for _, file := range []string{"fakequant_ema_tensor_affine", "fakequant_ema_tensor_sym", "fakequant_ema_channel_sym"} {
		t.Run(file, func(t *testing.T) {
			g := testutil.MustLoadGolden(t, filepath.Join(fqGolden, file+".safetensors"))
			axis := g.Int(t, "axis")
			cfg := qat.QuantConfig{
				Scheme: qat.QScheme{QMin: g.Int(t, "qmin"), QMax: g.Int(t, "qmax"), Symmetric: g.Int(t, "symmetric") == 1,
					PerChannel: axis >= 0, Axis: max(axis, 0)},
				Observer:  qat.MovingAverageObserver,
				Averaging: g.Float(t, "averaging_constant"),
			}
			C := g.Int(t, "channels")
			be := cpu.New()
			f, err := qat.NewFakeQuant(be, "act", cfg, C)
			if err != nil {
				t.Fatal(err)
			}
			for step := range g.Int(t, "steps") {
				name := func(s string) string { return s + string(rune('0'+step)) }
				xs := g.Tensors[name("x")].Shape
				x, _ := be.Alloc(kernels.Shape(xs))
				copy(x.Host32(), g.Tensor(t, name("x"), xs...))
				if _, err := f.Forward(x); err != nil {
					t.Fatal(err)
				}
				testutil.AllClose(t, name("min"), f.Observer.Min, g.Tensor(t, name("min"), C), 0, 0)
				testutil.AllClose(t, name("max"), f.Observer.Max, g.Tensor(t, name("max"), C), 0, 0)
				scale, zp, err := f.QParams()
				if err != nil {
					t.Fatal(err)
				}
				zf := make([]float32, C)
				for c, z := range zp {
					zf[c] = float32(z)
				}
				testutil.AllClose(t, name("scale"), scale, g.Tensor(t, name("scale"), C), 0, 0)
				testutil.AllClose(t, name("zero_point"), zf, g.Tensor(t, name("zero_point"), C), 0, 0)
			}
			// the batches must move the range, or the EMA went untested
			last := string(rune('0' + g.Int(t, "steps") - 1))
			if g.Tensor(t, "min0", C)[0] == g.Tensor(t, "min"+last, C)[0] {
				t.Fatal("golden ranges do not move between batches")
			}
			if f.Steps() != g.Int(t, "steps") {
				t.Errorf("Steps() = %d, want %d", f.Steps(), g.Int(t, "steps"))
			}
		})
	}
}
