package sim_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

// bf16 rounds f to bfloat16, to nearest even, and returns its bits.
func bf16(f float32) uint16 {
	u := math.Float32bits(f)
	if f != f {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

func widen(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// tf32 rounds f to a 10-bit mantissa, ties away from zero.
func tf32(f float32) float32 { return math.Float32frombits((math.Float32bits(f) + 0x1000) &^ 0x1fff) }

// devMatrix is a matrix in simulator memory with its host copy as float32.
type devMatrix struct {
	typ cuda.DataType
	ptr cuda.DevicePtr
	val []float32 // as stored (bfloat16 values widened)
}

func newMatrix(t *testing.T, d *sim.Driver, typ cuda.DataType, n int, v func(int) float32) devMatrix {
	m := devMatrix{typ: typ, val: make([]float32, n)}
	if typ == cuda.BFloat16 {
		h := make([]uint16, n)
		for i := range h {
			h[i] = bf16(v(i))
			m.val[i] = widen(h[i])
		}
		m.ptr = upload(t, d, h)
	} else {
		for i := range m.val {
			m.val[i] = v(i)
		}
		m.ptr = upload(t, d, m.val)
	}
	return m
}

func (m devMatrix) read(t *testing.T, d *sim.Driver) []float32 {
	if m.typ == cuda.Float32 {
		return download[float32](t, d, m.ptr, len(m.val))
	}
	h := download[uint16](t, d, m.ptr, len(m.val))
	out := make([]float32, len(h))
	for i, x := range h {
		out[i] = widen(x)
	}
	return out
}

// TestMatmul checks the cublasLtMatmul emulation on odd shapes (M, N or K
// of 1, padded leading dimensions) in all four transpositions, with every
// combination of input and output types, TF32 compute, the BIAS and
// BGRADB epilogues, and beta = 1 both with a separate C and in place
// (C = D). Every element of D and of the bias gradient must equal the
// contract's rounding of the float64 product exactly (float64 sum rounded
// to float32, float32 epilogue, one rounding to D's type), and lie within
// one unit in the last place of D's type of the plain float64 value.
func TestMatmul(t *testing.T) {
	d := newDriver(t)
	type shape struct{ m, n, k int }
	shapes := []shape{{5, 3, 7}, {1, 4, 3}, {6, 1, 5}, {3, 2, 1}}
	types := [][2]cuda.DataType{{cuda.Float32, cuda.Float32}, {cuda.BFloat16, cuda.Float32}, {cuda.BFloat16, cuda.BFloat16}, {cuda.Float32, cuda.BFloat16}}
	for _, sh := range shapes {
		for _, ty := range types {
			for _, compute := range []cuda.ComputeType{cuda.Compute32F, cuda.Compute32FFastTF32} {
				if compute == cuda.Compute32FFastTF32 && ty[0] != cuda.Float32 {
					continue
				}
				for _, epi := range []cuda.Epilogue{cuda.EpilogueDefault, cuda.EpilogueBias, cuda.EpilogueBGradB} {
					for tr := 0; tr < 4; tr++ {
						for _, mode := range []string{"beta=0", "beta=1", "in place"} {
							name := fmt.Sprintf("%dx%dx%d/%s-%s/tf32=%v/%s/trans=%d/%s", sh.m, sh.n, sh.k, ty[0], ty[1], compute == cuda.Compute32FFastTF32, epi, tr, mode)
							checkMatmul(t, d, name, sh.m, sh.n, sh.k, tr&1 != 0, tr&2 != 0, ty[0], ty[1], compute, epi, mode)
						}
					}
				}
			}
		}
	}
}

func checkMatmul(t *testing.T, d *sim.Driver, name string, m, n, k int, ta, tb bool, ab, cd cuda.DataType, compute cuda.ComputeType, epi cuda.Epilogue, mode string) {
	mm := cuda.Matmul{TransA: ta, TransB: tb, M: m, N: n, K: k, AB: ab, CD: cd, Compute: compute, Epilogue: epi, BiasType: cd, Alpha: 1.5}
	rowsA, colsA, rowsB, colsB := mm.Rows()
	mm.LDA, mm.LDB, mm.LDC, mm.LDD = rowsA+2, rowsB+1, m+3, m+1
	if mode != "beta=0" {
		mm.Beta = 1
	}
	if mode == "in place" {
		mm.LDC = mm.LDD
	}
	// Values with long mantissas, so that rounding to bfloat16 and TF32
	// matters.
	a := newMatrix(t, d, ab, mm.LDA*colsA, func(i int) float32 { return float32(math.Sin(float64(i)*1.7)) * 3 })
	b := newMatrix(t, d, ab, mm.LDB*colsB, func(i int) float32 { return float32(math.Cos(float64(i)*0.9)) - 0.25 })
	c := newMatrix(t, d, cd, mm.LDC*n, func(i int) float32 { return float32(i%5) * 0.3 })
	dd := c
	if mode != "in place" {
		dd = newMatrix(t, d, cd, mm.LDD*n, func(int) float32 { return 7 })
	}
	bias := newMatrix(t, d, cd, max(m, n), func(i int) float32 { return float32(i)*0.37 - 1 })
	mm.A, mm.B, mm.C, mm.D, mm.Bias = a.ptr, b.ptr, c.ptr, dd.ptr, bias.ptr
	if err := d.Matmul(mm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, gotBias := dd.read(t, d), bias.read(t, d)
	in := func(v float32) float32 {
		if compute == cuda.Compute32FFastTF32 {
			return tf32(v)
		}
		return v
	}
	opA := func(i, p int) float32 {
		if ta {
			return in(a.val[p+i*mm.LDA])
		}
		return in(a.val[i+p*mm.LDA])
	}
	opB := func(p, j int) float32 {
		if tb {
			return in(b.val[j+p*mm.LDB])
		}
		return in(b.val[p+j*mm.LDB])
	}
	store := func(v float32) float32 {
		if cd == cuda.BFloat16 {
			return widen(bf16(v))
		}
		return v
	}
	ulp := func(v float64) float64 {
		bits := 23
		if cd == cuda.BFloat16 {
			bits = 7
		}
		_, e := math.Frexp(v)
		return math.Ldexp(1, e-1-bits)
	}
	for j := 0; j < n; j++ {
		col := 0.0
		for p := 0; p < k; p++ {
			col += float64(opB(p, j))
		}
		if epi == cuda.EpilogueBGradB && gotBias[j] != store(float32(col)) {
			t.Fatalf("%s: bias gradient [%d] = %v, want %v", name, j, gotBias[j], store(float32(col)))
		}
		for i := 0; i < m; i++ {
			sum := 0.0
			for p := 0; p < k; p++ {
				sum += float64(opA(i, p)) * float64(opB(p, j))
			}
			v := mm.Alpha * float32(sum)
			exact := float64(mm.Alpha) * sum
			if mm.Beta != 0 {
				v += c.val[i+j*mm.LDC]
				exact += float64(c.val[i+j*mm.LDC])
			}
			if epi == cuda.EpilogueBias {
				v += bias.val[i]
				exact += float64(bias.val[i])
			}
			g := got[i+j*mm.LDD]
			if g != store(v) {
				t.Fatalf("%s: D[%d,%d] = %v, want %v", name, i, j, g, store(v))
			}
			if diff := math.Abs(float64(g) - exact); diff > ulp(exact)+1e-6 {
				t.Fatalf("%s: D[%d,%d] = %v is %g from the float64 value %v", name, i, j, g, diff, exact)
			}
		}
	}
	// Padding rows of D between columns stay untouched.
	if mode == "beta=0" && m < mm.LDD && n > 1 && got[m] != 7 {
		t.Fatalf("%s: D's padding was overwritten: %v", name, got[m])
	}
}

// TestMatmulRounding pins the two roundings the emulation applies: D is
// rounded to bfloat16 to nearest with ties to even, and TF32 compute rounds
// float32 inputs to a 10-bit mantissa with ties away from zero.
func TestMatmulRounding(t *testing.T) {
	d := newDriver(t)
	// D = [1, 2^-8]·[1, 1]ᵀ = 1 + 2^-8, halfway between the bfloat16
	// neighbours 1 and 1 + 2^-7: even is 1. And 1 + 2^-7 + 2^-8 rounds up
	// to 1 + 2^-6.
	for _, c := range []struct{ a0, a1, want float32 }{{1, 1.0 / 256, 1}, {1 + 1.0/128, 1.0 / 256, 1 + 1.0/64}} {
		a := newMatrix(t, d, cuda.Float32, 2, func(i int) float32 { return []float32{c.a0, c.a1}[i] })
		b := newMatrix(t, d, cuda.Float32, 2, func(int) float32 { return 1 })
		out := newMatrix(t, d, cuda.BFloat16, 1, func(int) float32 { return 0 })
		err := d.Matmul(cuda.Matmul{M: 1, N: 1, K: 2, A: a.ptr, B: b.ptr, D: out.ptr, LDA: 1, LDB: 2, LDC: 1, LDD: 1, CD: cuda.BFloat16, Alpha: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.read(t, d)[0]; got != c.want {
			t.Errorf("bfloat16 D of %v + %v = %v, want %v", c.a0, c.a1, got, c.want)
		}
	}
	for _, c := range []struct{ in, want float32 }{{1 + 1.0/2048, 1 + 1.0/1024}, {1 + 1.0/4096, 1}, {-(1 + 1.0/2048), -(1 + 1.0/1024)}} {
		a := newMatrix(t, d, cuda.Float32, 1, func(int) float32 { return c.in })
		b := newMatrix(t, d, cuda.Float32, 1, func(int) float32 { return 1 })
		out := newMatrix(t, d, cuda.Float32, 1, func(int) float32 { return 0 })
		err := d.Matmul(cuda.Matmul{M: 1, N: 1, K: 1, A: a.ptr, B: b.ptr, D: out.ptr, LDA: 1, LDB: 1, LDC: 1, LDD: 1, Compute: cuda.Compute32FFastTF32, Alpha: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.read(t, d)[0]; got != c.want {
			t.Errorf("TF32 product of %v = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestMatmulInvalid: a matrix past its allocation, a leading dimension
// below the rows, a bias epilogue without a bias or with a bias of another
// type than D, and TF32 with bfloat16 inputs are ErrInvalidValue; M = 0
// does nothing.
func TestMatmulInvalid(t *testing.T) {
	d := newDriver(t)
	a := alloc(t, d, 6, float32(1))
	small := alloc(t, d, 5, float32(1))
	ok := cuda.Matmul{M: 2, N: 3, K: 2, A: a, B: a, D: a, LDA: 2, LDB: 2, LDC: 2, LDD: 2, Alpha: 1}
	if err := d.Matmul(ok); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*cuda.Matmul){
		"D too small":    func(m *cuda.Matmul) { m.D = small },
		"ldb < k":        func(m *cuda.Matmul) { m.LDB = 1 },
		"no bias":        func(m *cuda.Matmul) { m.Epilogue = cuda.EpilogueBias },
		"bias type":      func(m *cuda.Matmul) { m.Epilogue, m.Bias, m.BiasType = cuda.EpilogueBias, a, cuda.BFloat16 },
		"bias too short": func(m *cuda.Matmul) { m.Epilogue, m.Bias = cuda.EpilogueBGradB, a+20 },
		"tf32 of bf16":   func(m *cuda.Matmul) { m.AB, m.Compute = cuda.BFloat16, cuda.Compute32FFastTF32 },
	}
	for name, f := range cases {
		m := ok
		f(&m)
		if err := d.Matmul(m); !errors.Is(err, sim.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
	empty := ok
	empty.M, empty.D = 0, 0
	if err := d.Matmul(empty); err != nil {
		t.Errorf("M = 0: %v", err)
	}
}

// TestMatmulCapture: a Matmul queued during a stream capture runs only
// when the graph is launched, and each replay computes it again.
func TestMatmulCapture(t *testing.T) {
	d := newDriver(t)
	a := newMatrix(t, d, cuda.BFloat16, 6, func(i int) float32 { return float32(i) })
	b := newMatrix(t, d, cuda.BFloat16, 3, func(i int) float32 { return 1 })
	out := newMatrix(t, d, cuda.Float32, 2, func(int) float32 { return -1 })
	m := cuda.Matmul{M: 2, N: 1, K: 3, A: a.ptr, B: b.ptr, C: out.ptr, D: out.ptr, LDA: 2, LDB: 3, LDC: 2, LDD: 2,
		AB: cuda.BFloat16, Alpha: 1, Beta: 1}
	if err := d.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	if err := d.Matmul(m); err != nil {
		t.Fatal(err)
	}
	g, err := d.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	if got := out.read(t, d); got[0] != -1 || got[1] != -1 {
		t.Fatalf("D changed before the graph ran: %v", got)
	}
	// Column sums of A [2×3]: 0+2+4 = 6 and 1+3+5 = 9, plus beta·C.
	for i, want := range [][2]float32{{5, 8}, {11, 17}} {
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
		if got := out.read(t, d); got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("after replay %d: D = %v, want %v", i+1, got, want)
		}
	}
}
