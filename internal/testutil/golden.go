package testutil

// Golden files: safetensors written by scripts/golden/golden.py from
// PyTorch, read here with github.com/maruel/safetensors.

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/maruel/safetensors"
)

// GoldenTensor is one tensor of a golden file: its shape, outermost first,
// and its row-major float32 elements.
type GoldenTensor struct {
	Shape []int
	Data  []float32
}

// Golden is a golden file loaded into memory: tensors by name and the
// header's string metadata (eps, stride, ... as golden.py wrote them).
type Golden struct {
	Path     string
	Tensors  map[string]GoldenTensor
	Metadata map[string]string
}

// LoadGolden reads the safetensors file at path. Every tensor must be F32
// (the only dtype golden.py writes); the error names the file and tensor
// otherwise, or when the file is missing or malformed.
func LoadGolden(path string) (*Golden, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	f, err := safetensors.Parse(buf)
	if err != nil {
		return nil, fmt.Errorf("golden %s: %w", path, err)
	}
	g := &Golden{Path: path, Tensors: make(map[string]GoldenTensor, len(f.Tensors)), Metadata: f.Metadata}
	for _, t := range f.Tensors {
		if t.DType != safetensors.F32 {
			return nil, fmt.Errorf("golden %s: tensor %q is %s, want F32", path, t.Name, t.DType)
		}
		shape := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int(d)
		}
		data := make([]float32, len(t.Data)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		g.Tensors[t.Name] = GoldenTensor{Shape: shape, Data: data}
	}
	return g, nil
}

// MustLoadGolden is LoadGolden that stops the test on error.
func MustLoadGolden(t testing.TB, path string) *Golden {
	t.Helper()
	g, err := LoadGolden(path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Get returns the tensor called name, or an error naming the file and
// listing the tensors it does hold.
func (g *Golden) Get(name string) (GoldenTensor, error) {
	if t, ok := g.Tensors[name]; ok {
		return t, nil
	}
	return GoldenTensor{}, fmt.Errorf("golden %s: no tensor %q (has %s)", g.Path, name, strings.Join(g.Names(), ", "))
}

// Names returns the tensor names in sorted order.
func (g *Golden) Names() []string {
	names := make([]string, 0, len(g.Tensors))
	for n := range g.Tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Has reports whether the file holds a tensor called name.
func (g *Golden) Has(name string) bool {
	_, ok := g.Tensors[name]
	return ok
}

// Tensor returns the elements of the tensor called name after checking that
// its shape is exactly shape; otherwise it stops the test with the file,
// the name and both shapes. Comparing full shapes, not element counts,
// catches layout mix-ups such as OIHW against HWIO.
func (g *Golden) Tensor(t testing.TB, name string, shape ...int) []float32 {
	t.Helper()
	gt, err := g.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gt.Shape, shape) {
		t.Fatalf("golden %s: tensor %q has shape %v, want %v", g.Path, name, gt.Shape, shape)
	}
	return gt.Data
}

// Float returns the metadata value key parsed as a float64, stopping the
// test if it is missing or not a number.
func (g *Golden) Float(t testing.TB, key string) float64 {
	t.Helper()
	s, ok := g.Metadata[key]
	if !ok {
		t.Fatalf("golden %s: no metadata %q", g.Path, key)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("golden %s: metadata %q = %q: %v", g.Path, key, s, err)
	}
	return v
}

// Int returns the metadata value key parsed as an int, stopping the test if
// it is missing or not an integer.
func (g *Golden) Int(t testing.TB, key string) int {
	t.Helper()
	s, ok := g.Metadata[key]
	if !ok {
		t.Fatalf("golden %s: no metadata %q", g.Path, key)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("golden %s: metadata %q = %q: %v", g.Path, key, s, err)
	}
	return v
}
