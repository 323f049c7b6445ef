package sim_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

func TestMemory(t *testing.T) {
	d := newDriver(t)
	if d.Name() != "cudasim" {
		t.Errorf("Name() = %q", d.Name())
	}
	p, err := d.Malloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	if p%256 != 0 {
		t.Errorf("Malloc returned %#x, not 256-byte aligned", p)
	}
	// Fresh memory reads as NaN (0xff bytes), not zero.
	if got := download[uint8](t, d, p, 1000); slices.IndexFunc(got, func(b byte) bool { return b != 0xff }) >= 0 {
		t.Error("fresh device memory is not filled with 0xff")
	}
	src := make([]byte, 1000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	if err := d.CopyHtoD(p, src); err != nil {
		t.Fatal(err)
	}
	q, err := d.Malloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CopyDtoD(q, p+10, 990); err != nil {
		t.Fatal(err)
	}
	if err := d.Memset(q+990, 0x5a, 10); err != nil {
		t.Fatal(err)
	}
	got := download[byte](t, d, q, 1000)
	want := append(slices.Clone(src[10:]), 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a)
	if !slices.Equal(got, want) {
		t.Error("CopyDtoD/Memset/CopyDtoH round trip differs")
	}
	// Ranges that leave their allocation, bad pointers and bad sizes.
	for name, err := range map[string]error{
		"HtoD past the end": d.CopyHtoD(p+1, make([]byte, 1000)),
		"DtoH past the end": d.CopyDtoH(make([]byte, 1001), p),
		"DtoD past the end": d.CopyDtoD(q, p+500, 501),
		"Memset past end":   d.Memset(p+999, 0, 2),
		"Memset null":       d.Memset(0, 0, 1),
		"Memset negative":   d.Memset(p, 0, -1),
		"Free interior":     d.Free(p + 8),
		"Free unknown":      d.Free(0x12345600),
	} {
		if !errors.Is(err, sim.ErrInvalidValue) {
			t.Errorf("%s: %v, want an error wrapping ErrInvalidValue", name, err)
		}
	}
	for _, n := range []int{0, -1} {
		if _, err := d.Malloc(n); !errors.Is(err, sim.ErrInvalidValue) {
			t.Errorf("Malloc(%d): %v, want ErrInvalidValue", n, err)
		}
	}
	if err := d.Free(p); err != nil {
		t.Fatal(err)
	}
	if err := d.Free(p); !errors.Is(err, sim.ErrInvalidValue) {
		t.Errorf("double Free: %v", err)
	}
	var ce *cuda.Error
	if err := d.CopyHtoD(p, []byte{1}); !errors.As(err, &ce) || ce.Op != "memcpy HtoD" {
		t.Errorf("CopyHtoD to freed memory: %v, want a *cuda.Error naming the op", err)
	}
}

func TestClose(t *testing.T) {
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Malloc(16)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Malloc(4); !errors.Is(err, sim.ErrClosed) {
		t.Errorf("Malloc after Close: %v", err)
	}
	if err := d.Free(p); !errors.Is(err, sim.ErrClosed) {
		t.Errorf("Free after Close: %v", err)
	}
	// Another context cannot free the allocation either (it is gone).
	e := newDriver(t)
	if err := e.Free(p); err == nil {
		t.Error("Free of a closed context's pointer succeeded")
	}
}

// sgemmRef is column-major C = alpha*op(A)*op(B) + beta*C in float64.
func sgemmRef(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, len(c))
	for i, v := range c {
		out[i] = float64(v)
	}
	for j := range n {
		for i := range m {
			var s float64
			for p := range k {
				var av, bv float32
				if ta {
					av = a[p+i*lda]
				} else {
					av = a[i+p*lda]
				}
				if tb {
					bv = b[j+p*ldb]
				} else {
					bv = b[p+j*ldb]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i+j*ldc])
			}
			out[i+j*ldc] = v
		}
	}
	return out
}

func TestSgemm(t *testing.T) {
	d := newDriver(t)
	r := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		return s
	}
	for _, c := range []struct {
		ta, tb      bool
		m, n, k     int
		alpha, beta float32
	}{
		{false, false, 5, 7, 3, 1, 0}, {true, false, 6, 4, 9, 0.5, 1}, {false, true, 3, 8, 5, -1, 0.25},
		{true, true, 17, 13, 11, 2, -1}, {false, false, 1, 1, 1, 1, 1}, {false, false, 4, 3, 0, 1, 0.5},
	} {
		// Leading dimensions larger than the rows, to test the strides.
		arows, acols := c.m, c.k
		if c.ta {
			arows, acols = c.k, c.m
		}
		brows, bcols := c.k, c.n
		if c.tb {
			brows, bcols = c.n, c.k
		}
		lda, ldb, ldc := arows+2, brows+1, c.m+3
		a, b, cm := randn(lda*max(acols, 1)), randn(ldb*max(bcols, 1)), randn(ldc*c.n)
		if c.beta == 0 {
			for i := range cm {
				cm[i] = float32(math.NaN()) // C is not read when beta == 0
			}
		}
		want := sgemmRef(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cm, ldc)
		ap, bp, cp := upload(t, d, a), upload(t, d, b), upload(t, d, cm)
		if err := d.Sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, ap, lda, bp, ldb, c.beta, cp, ldc); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got := download[float32](t, d, cp, len(cm))
		for j := range c.n {
			for i := range ldc {
				g, w := float64(got[i+j*ldc]), want[i+j*ldc]
				if i >= c.m { // rows past m are untouched
					if math.Float32bits(got[i+j*ldc]) != math.Float32bits(cm[i+j*ldc]) {
						t.Fatalf("%+v: padding C[%d,%d] changed", c, i, j)
					}
					continue
				}
				if math.Abs(g-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("%+v: C[%d,%d] = %v, want %v", c, i, j, g, w)
				}
			}
		}
	}
	// The row-major recipe of cuda.Driver's doc: Y[m×n] = X[m×k]·W[k×n] is
	// Sgemm(false, false, n, m, k, 1, W, n, X, k, 0, Y, n).
	const m, n, k = 3, 4, 2
	x := []float32{1, 2, 3, 4, 5, 6}       // 3×2 row-major
	w := []float32{1, 0, 2, 1, 0, 1, 1, 3} // 2×4 row-major
	want := []float32{1, 2, 4, 7, 3, 4, 10, 15, 5, 6, 16, 23}
	y := alloc(t, d, m*n, float32(0))
	if err := d.Sgemm(false, false, n, m, k, 1, upload(t, d, w), n, upload(t, d, x), k, 0, y, n); err != nil {
		t.Fatal(err)
	}
	if got := download[float32](t, d, y, m*n); !slices.Equal(got, want) {
		t.Errorf("row-major product %v, want %v", got, want)
	}
	small := alloc(t, d, 4, float32(0))
	for name, err := range map[string]error{
		"lda too small":  d.Sgemm(false, false, 4, 1, 1, 1, small, 3, small, 1, 0, small, 4),
		"A out of range": d.Sgemm(false, false, 2, 2, 3, 1, small, 2, small, 3, 0, small, 2),
		"negative size":  d.Sgemm(false, false, -1, 1, 1, 1, small, 1, small, 1, 0, small, 1),
		"host pointer C": d.Sgemm(false, false, 1, 1, 1, 1, small, 1, small, 1, 0, 0x1000, 1),
	} {
		if !errors.Is(err, sim.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
}

func TestEventsAndRanges(t *testing.T) {
	d := newDriver(t)
	start, err := d.Record()
	if err != nil {
		t.Fatal(err)
	}
	d.RangePush("step")
	d.RangePush("forward")
	d.RangePop()
	d.RangePush("backward")
	d.RangePop()
	d.RangePop()
	d.RangePush("optimizer")
	end, err := d.Record()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := d.Elapsed(start, end)
	if err != nil || ms < 0 {
		t.Errorf("Elapsed = %v, %v", ms, err)
	}
	want := []sim.Range{{"step", 0, true}, {"forward", 1, true}, {"backward", 1, true}, {"optimizer", 0, false}}
	if got := d.Ranges(); !slices.Equal(got, want) {
		t.Errorf("Ranges() = %+v, want %+v", got, want)
	}
	d.RangePop()
	if err := d.Synchronize(); err != nil {
		t.Errorf("Synchronize: %v", err)
	}
	d.RangePop()
	if err := d.Synchronize(); !errors.Is(err, sim.ErrInvalidValue) {
		t.Errorf("Synchronize after an unmatched RangePop: %v, want ErrInvalidValue", err)
	}
	if err := d.Synchronize(); err != nil {
		t.Errorf("the misuse is reported once: %v", err)
	}
	start.Release()
	if _, err := d.Elapsed(start, end); err == nil {
		t.Error("Elapsed of a released event succeeded")
	}
	other := newDriver(t)
	oe, _ := other.Record()
	if _, err := d.Elapsed(oe, end); err == nil {
		t.Error("Elapsed with another Driver's event succeeded")
	}
}

func TestRegistry(t *testing.T) {
	names := sim.Kernels()
	for _, want := range []string{"sim_axpy", "sim_shfl_table", "sim_atomics"} {
		if !slices.Contains(names, want) {
			t.Errorf("Kernels() lacks %s (the test kernels register into the same runtime)", want)
		}
	}
	d := newDriver(t)
	_, err := d.Function("nope")
	if !errors.Is(err, sim.ErrNotFound) {
		t.Errorf("Function(nope): %v", err)
	}
	f := function(t, d, "sim_axpy")
	if got := f.(*sim.Kernel).Params(); !slices.Equal(got, []string{"float* y", "float const* x", "float a", "int n"}) {
		t.Errorf("sim_axpy parameters %q", got)
	}
	y := alloc(t, d, 8, float32(1))
	sim.SetForceThreads(true) // forcing threads must not mark a kernel as synchronising
	launch(t, d, "sim_axpy", dim1(1), dim1(8), 0, y, y, float32(1), int32(8))
	sim.SetForceThreads(false)
	launch(t, d, "sim_axpy", dim1(1), dim1(8), 0, y, y, float32(1), int32(8))
	if got := d.Launches(); len(got) != 2 || got[0].Kernel != "sim_axpy" || got[0].Block != dim1(8) {
		t.Errorf("Launches() = %+v", got)
	}
	if sim.Threaded("sim_axpy") {
		t.Error("sim_axpy never synchronises but is recorded as threaded")
	}
}
