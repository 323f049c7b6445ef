//go:build cuda && cgo

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
)

// uploadAs uploads v as float32 or bfloat16 (rounded to nearest even) and
// returns the values as stored.
func uploadAs(t *testing.T, d *Device, typ DataType, v []float32) (DevicePtr, []float32) {
	t.Helper()
	if typ == Float32 {
		return upload(t, d, v), v
	}
	b := make([]byte, 2*len(v))
	stored := make([]float32, len(v))
	for i, x := range v {
		h := bfloat16.FromFloat32(x)
		binary.LittleEndian.PutUint16(b[2*i:], h)
		stored[i] = bfloat16.ToFloat32(h)
	}
	p, err := d.Malloc(len(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CopyHtoD(p, b); err != nil {
		t.Fatal(err)
	}
	return p, stored
}

func downloadAs(t *testing.T, d *Device, typ DataType, p DevicePtr, n int) []float32 {
	t.Helper()
	if typ == Float32 {
		return download(t, d, p, n)
	}
	b := make([]byte, 2*n)
	if err := d.CopyDtoH(b, p); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = bfloat16.ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// TestMatmul runs cublasLtMatmul on the GPU in the combinations the
// backend uses (bf16 inputs with float32 or bf16 output, TF32, the BIAS
// epilogue in the forward, BGRADB in the weight gradient, beta = 1 in
// place) on odd shapes with padded leading dimensions, against a float64
// reference from the values as stored: within float32 accumulation (or
// TF32's input rounding) plus one rounding to D's type. It also checks
// that a second product of the same shape reuses the plan.
func TestMatmul(t *testing.T) {
	d := open(t)
	rng := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	type tc struct {
		ta, tb  bool
		m, n, k int
		ab, cd  DataType
		compute ComputeType
		epi     Epilogue
		beta    float32
	}
	cases := []tc{
		{true, false, 161, 37, 40, BFloat16, BFloat16, Compute32F, EpilogueBias, 0},     // Linear forward, bf16 out
		{true, false, 10, 33, 17, BFloat16, Float32, Compute32F, EpilogueDefault, 0},    // logits in float32
		{false, false, 40, 37, 161, BFloat16, BFloat16, Compute32F, EpilogueDefault, 0}, // input gradient
		{false, true, 40, 161, 37, BFloat16, Float32, Compute32F, EpilogueBGradB, 1},    // weight gradient + bias gradient
		{true, false, 19, 37, 13, Float32, Float32, Compute32FFastTF32, EpilogueBias, 0},
		{false, true, 13, 19, 37, Float32, Float32, Compute32FFastTF32, EpilogueDefault, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v%v_%dx%dx%d_%s_%s_%s", c.ta, c.tb, c.m, c.n, c.k, c.ab, c.cd, c.epi), func(t *testing.T) {
			m := Matmul{TransA: c.ta, TransB: c.tb, M: c.m, N: c.n, K: c.k, AB: c.ab, CD: c.cd, Compute: c.compute,
				Epilogue: c.epi, BiasType: c.cd, Alpha: 1, Beta: c.beta}
			rowsA, colsA, rowsB, colsB := m.Rows()
			m.LDA, m.LDB, m.LDC = rowsA+1, rowsB, c.m+3
			m.LDD = m.LDC
			var a, b, cv, bias []float32
			m.A, a = uploadAs(t, d, c.ab, randn(m.LDA*colsA))
			m.B, b = uploadAs(t, d, c.ab, randn(m.LDB*colsB))
			m.C, cv = uploadAs(t, d, c.cd, randn(m.LDC*c.n))
			m.D = m.C
			m.Bias, bias = uploadAs(t, d, c.cd, randn(max(c.m, c.n)))
			runs := 1
			if c.beta == 0 {
				runs = 2 // the second reuses the shape's plan and must write the same D
			}
			for range runs {
				if err := d.Matmul(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Synchronize(); err != nil {
				t.Fatal(err)
			}
			got := downloadAs(t, d, c.cd, m.D, len(cv))
			gotBias := downloadAs(t, d, c.cd, m.Bias, len(bias))
			in := func(v float32) float64 {
				if c.compute == Compute32FFastTF32 {
					return float64(math.Float32frombits((math.Float32bits(v) + 0x1000) &^ 0x1fff))
				}
				return float64(v)
			}
			tol := 1e-5 * math.Sqrt(float64(c.k))
			if c.compute == Compute32FFastTF32 {
				tol = 2e-3 // hardware may truncate instead of round
			}
			round := 0.0
			if c.cd == BFloat16 {
				round = 1.0 / 256
			}
			for j := range c.n {
				col, colAbs := 0.0, 0.0
				for p := range c.k {
					bv := in(b[p+j*m.LDB])
					if c.tb {
						bv = in(b[j+p*m.LDB])
					}
					col += bv
					colAbs += math.Abs(bv)
				}
				if c.epi == EpilogueBGradB {
					if e := math.Abs(float64(gotBias[j]) - col); e > 1e-5*colAbs+round*math.Abs(col)+1e-6 {
						t.Fatalf("bias gradient [%d] = %v, want %v", j, gotBias[j], col)
					}
				}
				for i := range c.m {
					sum, abs := 0.0, 0.0
					for p := range c.k {
						av := in(a[i+p*m.LDA])
						if c.ta {
							av = in(a[p+i*m.LDA])
						}
						bv := in(b[p+j*m.LDB])
						if c.tb {
							bv = in(b[j+p*m.LDB])
						}
						sum += av * bv
						abs += math.Abs(av * bv)
					}
					want := sum + float64(c.beta)*float64(cv[i+j*m.LDC])
					if c.epi == EpilogueBias {
						want += float64(bias[i])
					}
					g := float64(got[i+j*m.LDD])
					if e := math.Abs(g - want); e > tol*(abs+1)+round*math.Abs(want) {
						t.Fatalf("D[%d,%d] = %v, want %v", i, j, g, want)
					}
				}
			}
		})
	}
	bad := Matmul{M: 4, N: 4, K: 4, A: 1, B: 1, D: 1, LDA: 3, LDB: 4, LDC: 4, LDD: 4}
	if err := d.Matmul(bad); err == nil || !strings.Contains(err.Error(), "lda < 4") {
		t.Errorf("small lda: %v", err)
	}
}
