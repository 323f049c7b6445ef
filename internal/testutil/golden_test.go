package testutil

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maruel/safetensors"
)

func f32Bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func writeFile(t *testing.T, f *safetensors.File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadGolden(t *testing.T) {
	path := writeFile(t, &safetensors.File{
		Tensors: []safetensors.Tensor{
			{Name: "x", DType: safetensors.F32, Shape: []uint64{2, 3}, Data: f32Bytes(1, -2, 3.5, 0, 1e-30, -7)},
			{Name: "b", DType: safetensors.F32, Shape: []uint64{1}, Data: f32Bytes(0.25)},
		},
		Metadata: map[string]string{"eps": "1e-06", "K": "7"},
	})
	g, err := LoadGolden(path)
	if err != nil {
		t.Fatal(err)
	}
	x := g.Tensor(t, "x", 2, 3)
	want := []float32{1, -2, 3.5, 0, 1e-30, -7}
	for i := range want {
		if x[i] != want[i] {
			t.Errorf("x[%d] = %v, want %v", i, x[i], want[i])
		}
	}
	if got := g.Float(t, "eps"); got != 1e-6 {
		t.Errorf("eps = %v", got)
	}
	if got := g.Int(t, "K"); got != 7 {
		t.Errorf("K = %v", got)
	}
	if !g.Has("b") || g.Has("w") {
		t.Errorf("Has: b %v, w %v", g.Has("b"), g.Has("w"))
	}
	_, err = g.Get("w")
	if err == nil || !strings.Contains(err.Error(), `no tensor "w" (has b, x)`) {
		t.Errorf("missing tensor error = %v", err)
	}
}

func TestLoadGoldenErrors(t *testing.T) {
	if _, err := LoadGolden(filepath.Join(t.TempDir(), "absent.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
	path := writeFile(t, &safetensors.File{Tensors: []safetensors.Tensor{
		{Name: "h", DType: safetensors.F16, Shape: []uint64{2}, Data: []byte{0, 0, 0, 0}},
	}})
	if _, err := LoadGolden(path); err == nil || !strings.Contains(err.Error(), `tensor "h" is F16, want F32`) {
		t.Errorf("F16 tensor error = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(bad, []byte("not a safetensors file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGolden(bad); err == nil {
		t.Error("malformed file: no error")
	}
}

// TestLoadGoldenFromPython reads a file that scripts/golden/golden.py wrote
// with its own safetensors writer and checks a relation that holds in it.
func TestLoadGoldenFromPython(t *testing.T) {
	g := MustLoadGolden(t, "../../kernels/cpu/testdata/golden/add.safetensors")
	a := g.Tensor(t, "a", 2, 5, 7, 3)
	b := g.Tensor(t, "b", 2, 5, 7, 3)
	y := g.Tensor(t, "y", 2, 5, 7, 3)
	sum := make([]float64, len(a))
	for i := range a {
		sum[i] = float64(a[i]) + float64(b[i])
	}
	// y is the float64 sum rounded to float32.
	AllClose(t, "a+b", y, sum, 1e-7, 0)
	if g.Metadata["op"] != "add" {
		t.Errorf("metadata op = %q", g.Metadata["op"])
	}
}
