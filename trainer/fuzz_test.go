package trainer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// FuzzConfig: any TOML text and any -set override either give an error or
// a configuration that validates, resolves to a model within the limits,
// and survives being printed and read back (what config.toml and every
// checkpoint store). Seeds: testdata/fuzz/FuzzConfig (the shipped
// configurations among them) and the defaults.
func FuzzConfig(f *testing.F) {
	f.Add(Default().TOML(), "train.epochs=3")
	f.Add(stagesTOML, "model.name=fuzzed")
	f.Fuzz(func(t *testing.T, text, override string) {
		c := Default()
		if err := c.decode("fuzz", text); err != nil {
			return
		}
		if err := c.Set(override); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		if _, err := c.ModelConfig(1, 1); err != nil {
			t.Fatalf("valid config does not resolve its model: %v", err)
		}
		back := Default()
		if err := back.decode("printed", c.TOML()); err != nil {
			t.Fatalf("printed config does not decode: %v\n%s", err, c.TOML())
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("printed config does not validate: %v\n%s", err, c.TOML())
		}
	})
}

// tinyInt8Export returns an int8 export of a tiny QAT-wrapped model whose
// observers saw one random batch.
func tinyInt8Export(tb testing.TB) []byte {
	tb.Helper()
	mc, err := models.Variant("atto")
	if err != nil {
		tb.Fatal(err)
	}
	mc.Dims, mc.Depths, mc.StemPatch, mc.InChans, mc.NumClasses, mc.InputSize = []int{8, 8}, []int{1, 1}, 2, 1, 3, 8
	be := cpu.New()
	m, err := models.New(be, mc, 1)
	if err != nil {
		tb.Fatal(err)
	}
	run := Default()
	run.QAT.Enabled, run.QAT.From = true, "float.safetensors"
	qs, err := Quantize(m, run.QAT)
	if err != nil {
		tb.Fatal(err)
	}
	x, err := be.Alloc(kernels.Shape{2, 8, 8, 1})
	if err != nil {
		tb.Fatal(err)
	}
	xs := make([]float32, x.Len())
	for i := range xs {
		xs[i] = float32(i%7) - 3
	}
	if err := be.Upload(x, xs); err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Forward(x); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "int8.safetensors")
	if err := ExportInt8(p, m, qs, run); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzLoadInt8: any file either loads as an int8 model whose forward pass
// runs, or gives an error; never a panic. The model limits are lowered for
// the fuzz run so that a mutated stored config cannot build a large model.
// Seeds: testdata/fuzz/FuzzLoadInt8 and a tiny valid export.
func FuzzLoadInt8(f *testing.F) {
	f.Add(tinyInt8Export(f))
	f.Fuzz(func(t *testing.T, buf []byte) {
		prev := models.SetLimits(models.Limits{MaxParams: 1 << 16, MaxMemory: 16 << 20})
		defer models.SetLimits(prev)
		p := filepath.Join(t.TempDir(), "in.safetensors")
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		be := cpu.New()
		m, _, _, err := LoadInt8(be, p)
		if err != nil {
			return
		}
		side := m.MinInput()
		x, err := be.Alloc(kernels.Shape{1, side, side, m.Config.InChans})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Forward(x); err != nil && !errors.Is(err, kernels.ErrNaN) {
			t.Fatalf("loaded model does not run: %v", err)
		}
	})
}
