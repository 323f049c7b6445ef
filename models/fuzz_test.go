package models

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/kernels/cpu"
)

// tinySafetensors returns a valid safetensors file of two small tensors and
// nextconv metadata storing cfg.
func tinySafetensors(tb testing.TB, cfg Config) []byte {
	tb.Helper()
	js, _ := json.Marshal(cfg)
	p := filepath.Join(tb.TempDir(), "seed.safetensors")
	err := WriteSafetensors(p, []Tensor{
		{Name: "head.fc.bias", Shape: []int{3}, Data: []float32{1, -2, 3}},
		{Name: "stem.0.weight", Shape: []int{2, 1, 1, 1}, Data: []float32{0.5, 0.25}},
	}, map[string]string{MetaFormat: "nextconv", MetaConfig: string(js)})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzParseSafetensors: any bytes either parse into tensors whose data
// matches their shapes, or give an error; never a panic, and never more
// float32 elements than the input has bytes. Seeds: testdata/fuzz and a
// valid two-tensor file.
func FuzzParseSafetensors(f *testing.F) {
	f.Add(tinySafetensors(f, mustVariantF(f)))
	f.Fuzz(func(t *testing.T, buf []byte) {
		tensors, _, err := parseSafetensors("fuzz", buf)
		if err != nil {
			return
		}
		total := 0
		for _, x := range tensors {
			n := 1
			for _, d := range x.Shape {
				if d < 0 {
					t.Fatalf("%s: negative dimension in %v", x.Name, x.Shape)
				}
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("%s: shape %v but %d elements", x.Name, x.Shape, len(x.Data))
			}
			total += len(x.Data)
		}
		if total > len(buf) {
			t.Fatalf("%d elements from %d bytes", total, len(buf))
		}
	})
}

// FuzzConfigFromHeader: any header either yields a model config that
// builds, with the parameters Footprint announced, or an error. Seeds: testdata/fuzz and a valid file.
func FuzzConfigFromHeader(f *testing.F) {
	f.Add(tinySafetensors(f, mustVariantF(f)))
	f.Add(tinySafetensors(f, mustVariantF(f).Explicit()))
	f.Fuzz(func(t *testing.T, buf []byte) {
		meta, err := parseMetadata("fuzz", bytes.NewReader(buf), int64(len(buf)))
		if err != nil {
			return
		}
		c, err := configFromMetadata("fuzz", meta)
		if err != nil {
			return
		}
		m, err := build(shapeOnly{cpu.New()}, c, 0, nil)
		if err != nil {
			t.Fatalf("accepted config %+v does not build: %v", c, err)
		}
		fp, _ := c.Footprint(1, m.MinInput(), m.MinInput())
		if fp.Params != int64(m.NumParams()) {
			t.Fatalf("footprint %d parameters, model %d", fp.Params, m.NumParams())
		}
	})
}

func mustVariantF(f *testing.F) Config {
	c, err := Variant("atto")
	if err != nil {
		f.Fatal(err)
	}
	return c
}
