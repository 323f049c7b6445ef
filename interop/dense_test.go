package interop_test

import (
	"errors"
	"testing"

	"gorgonia.org/tensor"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/interop"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestRoundTripNHWC moves an NHWC activation to a Dense and back on both
// CPU backends and checks the element order the package documents.
func TestRoundTripNHWC(t *testing.T) {
	const n, h, w, c = 2, 3, 5, 4
	vals := testutil.Rand(testutil.NewRand(1), n*h*w*c, 1)
	for _, be := range []*cpu.Backend{cpu.New(), cpu.New64()} {
		t.Run(be.Name(), func(t *testing.T) {
			x, err := be.Alloc(kernels.Shape{n, h, w, c})
			if err != nil {
				t.Fatal(err)
			}
			if err := be.Upload(x, vals); err != nil {
				t.Fatal(err)
			}
			d, err := interop.ToDense(be, x)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Shape().Eq(tensor.Shape{n, h, w, c}) {
				t.Fatalf("Dense shape %v, want (%d, %d, %d, %d)", d.Shape(), n, h, w, c)
			}
			wantDT := map[kernels.DType]tensor.Dtype{kernels.Float32: tensor.Float32, kernels.Float64: tensor.Float64}[be.DType()]
			if d.Dtype() != wantDT {
				t.Fatalf("Dense dtype %v, want %v", d.Dtype(), wantDT)
			}
			for _, co := range [][4]int{{0, 0, 0, 0}, {1, 2, 4, 3}, {1, 0, 3, 2}, {0, 2, 1, 1}} {
				got, err := d.At(co[:]...)
				if err != nil {
					t.Fatal(err)
				}
				want := vals[((co[0]*h+co[1])*w+co[2])*c+co[3]]
				if g := asFloat(got); g != float64(want) {
					t.Errorf("At%v = %v, want %v", co, g, want)
				}
			}
			back, err := interop.FromDense(be, d)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Shape.Equal(x.Shape) {
				t.Fatalf("round trip shape %v, want %v", back.Shape, x.Shape)
			}
			got := make([]float32, back.Len())
			if err := be.Download(got, back); err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "round trip", got, vals, 0, 0)
		})
	}
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return -1e300
}

// TestFloat64Exact checks that float64 values survive both directions on
// the float64 backend without a float32 round trip, and are rounded on the
// float32 backend.
func TestFloat64Exact(t *testing.T) {
	vals := []float64{0.1, -1.0 / 3, 1e-300, 12345.678901234}
	d := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking(append([]float64(nil), vals...)))

	be64 := cpu.New64()
	x, err := interop.FromDense(be64, d)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x.Host64() {
		if v != vals[i] {
			t.Errorf("float64 backend [%d] = %v, want %v", i, v, vals[i])
		}
	}
	x.Host64()[0] = 0.7 // the tensor must not share memory with d
	if d.Data().([]float64)[0] != 0.1 {
		t.Error("FromDense shares memory with the Dense")
	}
	back, err := interop.ToDense(be64, x)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Data().([]float64); got[0] != 0.7 || got[1] != vals[1] {
		t.Errorf("ToDense float64 = %v", got)
	}

	be32 := cpu.New()
	x32, err := interop.FromDense(be32, d)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x32.Host32() {
		if v != float32(vals[i]) {
			t.Errorf("float32 backend [%d] = %v, want %v", i, v, float32(vals[i]))
		}
	}
}

// TestFromDenseLayouts feeds a transposed, a sliced and a column-major
// Dense and checks that the logical row-major order arrives.
func TestFromDenseLayouts(t *testing.T) {
	be := cpu.New()
	read := func(d *tensor.Dense) ([]float32, kernels.Shape) {
		t.Helper()
		x, err := interop.FromDense(be, d)
		if err != nil {
			t.Fatal(err)
		}
		return x.Host32(), x.Shape
	}
	check := func(what string, got []float32, shape kernels.Shape, want []float32, wantShape kernels.Shape) {
		t.Helper()
		if !shape.Equal(wantShape) {
			t.Errorf("%s: shape %v, want %v", what, shape, wantShape)
		}
		testutil.AllClose(t, what, got, want, 0, 0)
	}

	// [[1 2 3] [4 5 6]] transposed is [[1 4] [2 5] [3 6]].
	tr := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	if err := tr.T(); err != nil {
		t.Fatal(err)
	}
	got, shape := read(tr)
	check("transposed", got, shape, []float32{1, 4, 2, 5, 3, 6}, kernels.Shape{3, 2})

	// Column 1 of a 3×3 matrix: a strided view.
	m := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8}))
	col, err := m.Slice(nil, tensor.S(1))
	if err != nil {
		t.Fatal(err)
	}
	got, shape = read(col.(*tensor.Dense))
	check("column view", got, shape, []float32{1, 4, 7}, kernels.Shape{3})

	// AsFortran stores the matrix [[1 2 3] [4 5 6]] column-major.
	f := tensor.New(tensor.WithShape(2, 3), tensor.AsFortran([]float32{1, 2, 3, 4, 5, 6}))
	if raw := f.Data().([]float32); raw[1] != 4 {
		t.Fatalf("column-major backing is %v; the test's premise is wrong", raw)
	}
	got, shape = read(f)
	check("column-major", got, shape, []float32{1, 2, 3, 4, 5, 6}, kernels.Shape{2, 3})

	// A scalar becomes a one-element tensor.
	got, shape = read(tensor.New(tensor.FromScalar(float32(2.5))))
	check("scalar", got, shape, []float32{2.5}, kernels.Shape{1})
}

func TestErrors(t *testing.T) {
	be := cpu.New()
	if _, err := interop.ToDense(be, kernels.Tensor{}); err == nil {
		t.Error("ToDense(nil tensor): no error")
	}
	if _, err := interop.FromDense(be, nil); err == nil {
		t.Error("FromDense(nil): no error")
	}
	ints := tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))
	if _, err := interop.FromDense(be, ints); !errors.Is(err, kernels.ErrDType) {
		t.Errorf("FromDense(int Dense) = %v, want ErrDType", err)
	}
	// ToDense follows the tensor's storage type, not the backend's.
	x64, _ := cpu.New64().Alloc(kernels.Shape{2})
	d, err := interop.ToDense(be, x64)
	if err != nil || d.Dtype() != tensor.Float64 {
		t.Errorf("ToDense(float64 tensor) = %v, %v", d, err)
	}
	// float64 values a device holds cannot be read without rounding.
	dev := kernels.Tensor{Shape: kernels.Shape{2}, Data: deviceF64(2)}
	if _, err := interop.ToDense(be, dev); err == nil {
		t.Error("ToDense(float64 device tensor): no error")
	}
}

// deviceF64 stands for float64 storage outside host memory.
type deviceF64 int

func (s deviceF64) Len() int                         { return int(s) }
func (s deviceF64) DType() kernels.DType             { return kernels.Float64 }
func (s deviceF64) Slice(off, n int) kernels.Storage { return deviceF64(n) }
