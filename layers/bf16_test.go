package layers

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestBF16Activations builds a ConvNeXt V2 block and a Linear in bf16
// precision on the CPU emulation and checks where bf16 lives: outputs and
// dx are BFloat16 and hold only bf16 values, LayerNorm and GRN statistics
// stay float32, every Param's Low is the bf16 rounding of its Value, and a
// float32 input to Linear is rounded before the product (its result equals
// the product of the rounded input).
func TestBF16Activations(t *testing.T) {
	be := cpu.New()
	if err := be.SetPrecision(kernels.BF16); err != nil {
		t.Fatal(err)
	}
	rng := testutil.NewRand(5)
	blk, err := NewBlock(be, "b", V2Block(11, 0), rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := NewLinear(be, "fc", 11, 5, true, rng)
	if err != nil {
		t.Fatal(err)
	}
	arena, err := NewArena(be, append(blk.Params(), lin.Params()...))
	if err != nil {
		t.Fatal(err)
	}
	if arena.Low.Nil() || arena.Low.Data.DType() != kernels.BFloat16 {
		t.Fatalf("arena Low = %v, want a bfloat16 copy", arena.Low)
	}
	for _, p := range arena.Params {
		v, lo := p.Value.Host32(), []float32(p.Low.Data.(kernels.BF16Host))
		for i := range v {
			if lo[i] != bfloat16.Round(v[i]) {
				t.Fatalf("%s Low[%d] = %g, want bf16(%g)", p.Name, i, lo[i], v[i])
			}
		}
	}
	xv := testutil.Rand(rng, 2*3*1*11, 1)
	x, _ := be.Alloc(kernels.Shape{2, 3, 1, 11}) // float32, as a caller's input
	if err := be.Upload(x, xv); err != nil {
		t.Fatal(err)
	}
	y, err := blk.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	checkBF16(t, "block output", y)
	var stats int
	Walk(blk, func(l Layer) {
		switch l := l.(type) {
		case *LayerNorm:
			stats++
			if l.mean.t.Data.DType() != kernels.Float32 || l.rstd.t.Data.DType() != kernels.Float32 {
				t.Errorf("%s statistics are %v/%v, want float32", l.Name(), l.mean.t, l.rstd.t)
			}
		case *GRN:
			stats++
			if l.gnorm.t.Data.DType() != kernels.Float32 {
				t.Errorf("%s gnorm is %v, want float32", l.Name(), l.gnorm.t)
			}
		}
	})
	if stats != 2 {
		t.Errorf("found %d normalisation layers, want LayerNorm and GRN", stats)
	}
	dx, err := blk.Backward(y)
	if err != nil {
		t.Fatal(err)
	}
	checkBF16(t, "block dx", dx)

	ly, err := lin.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	checkBF16(t, "linear output", ly)
	xr, _ := be.AllocDType(x.Shape, kernels.BFloat16)
	if err := be.Copy(xr, x); err != nil {
		t.Fatal(err)
	}
	want, _ := be.AllocDType(ly.Shape, kernels.BFloat16)
	if err := be.Linear(want, xr, lin.Weight.Low, lin.Bias.Value, kernels.LinearShape{Rows: 6, In: 11, Out: 5}); err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "linear of a float32 input", host(ly), host(want), 0, 0)
}

func host(t kernels.Tensor) []float32 {
	v := make([]float32, t.Len())
	copy(v, t.Data.(kernels.BF16Host))
	return v
}

// checkBF16 fails unless t is bf16 storage holding only bf16 values.
func checkBF16(t *testing.T, what string, x kernels.Tensor) {
	t.Helper()
	d, ok := x.Data.(kernels.BF16Host)
	if !ok {
		t.Fatalf("%s is %v, want bfloat16", what, x)
	}
	for i, v := range d {
		if !bfloat16.Representable(v) || math.IsNaN(float64(v)) {
			t.Fatalf("%s[%d] = %g is not a bf16 value", what, i, v)
		}
	}
}
