//go:build cgo

package cublas

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// TestLtMatmul runs LtPlan and LtMatmul against the fake cuBLASLt: all
// four transpositions with padded leading dimensions, float32 and bfloat16
// matrices, the BIAS and BGRADB epilogues, against a float64 reference.
// Values are small integers, exact in bfloat16 and in float32 sums, so the
// comparison is exact. Every descriptor made is destroyed again.
func TestLtMatmul(t *testing.T) {
	t.Setenv("NEXTCONV_CUBLAS", "")
	t.Setenv("NEXTCONV_CUBLASLT", "")
	l := mustLoad(t)(fakeSpecs(t, 12))
	h, err := l.LtCreate()
	if err != nil {
		t.Fatal(err)
	}
	live := func() int32 {
		p, err := l.Lt.Lookup("fake_live")
		if err != nil {
			t.Fatal(err)
		}
		return *(*int32)(p)
	}
	const m, n, k, pad = 3, 5, 4, 2
	for _, typ := range []int{R32F, R16BF} {
		for _, epi := range []int{EpilogueDefault, EpilogueBias, EpilogueBGradB} {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				ra, ca, rb, cb := m, k, k, n
				if tr[0] {
					ra, ca = k, m
				}
				if tr[1] {
					rb, cb = n, k
				}
				s := LtMatmulSpec{TransA: tr[0], TransB: tr[1], M: m, N: n, K: k, LDA: ra + pad, LDB: rb + pad,
					LDC: m + pad, LDD: m + 1, AB: typ, CD: typ, BiasType: typ, Compute: Compute32F, Epilogue: epi, MaxWorkspace: 1 << 20,
					Align: [4]int{2, 4, 8, 256}}
				a := fill(typ, s.LDA*ca, func(i int) float64 { return float64(i%7) - 3 })
				b := fill(typ, s.LDB*cb, func(i int) float64 { return float64(i%5) - 2 })
				c := fill(typ, s.LDC*n, func(i int) float64 { return float64(i % 3) })
				d := fill(typ, s.LDD*n, func(int) float64 { return 0 })
				bias := fill(typ, max(m, n), func(i int) float64 { return float64(i) - 1 })
				ws := make([]byte, 4096)
				p, err := l.LtPlan(h, s)
				if err != nil {
					t.Fatalf("LtPlan(%+v): %v", s, err)
				}
				if al, err := l.Lt.Lookup("fake_align"); err != nil || *(*[4]uint32)(al) != [4]uint32{2, 4, 8, 256} {
					t.Errorf("alignments set: %v (%v)", *(*[4]uint32)(al), err)
				}
				if want := map[bool]int{true: 4096, false: 0}[epi == EpilogueBGradB]; p.Workspace() != want {
					t.Errorf("workspace %d, want %d", p.Workspace(), want)
				}
				err = l.LtMatmul(h, p, 2, -1, a.addr(), b.addr(), c.addr(), d.addr(), bias.addr(),
					uintptr(unsafe.Pointer(&ws[0])), len(ws), 0xabc0)
				runtime.KeepAlive(ws)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < n; j++ {
					colSum := 0.0
					for q := 0; q < k; q++ {
						colSum += b.at(tr[1], q, j, s.LDB)
					}
					if epi == EpilogueBGradB && bias.get(j) != colSum {
						t.Errorf("type %d trans %v: BGRADB bias[%d] = %v, want %v", typ, tr, j, bias.get(j), colSum)
					}
					for i := 0; i < m; i++ {
						sum := 0.0
						for q := 0; q < k; q++ {
							sum += a.at(tr[0], i, q, s.LDA) * b.at(tr[1], q, j, s.LDB)
						}
						want := 2*sum - c.get(i+j*s.LDC)
						if epi == EpilogueBias {
							want += float64(i) - 1
						}
						if got := d.get(i + j*s.LDD); got != want {
							t.Fatalf("type %d epilogue %d trans %v: d[%d,%d] = %v, want %v", typ, epi, tr, i, j, got, want)
						}
					}
				}
				if err := l.LtPlanDestroy(p); err != nil {
					t.Error(err)
				}
			}
		}
	}
	if n := live(); n != 0 {
		t.Errorf("%d descriptors left alive", n)
	}
	s := LtMatmulSpec{M: 2, N: 2, K: 2, LDA: 2, LDB: 2, LDC: 2, LDD: 2, Compute: Compute32F, Epilogue: EpilogueBGradB, MaxWorkspace: 100,
		Align: [4]int{256, 256, 256, 256}}
	if _, err := l.LtPlan(h, s); err == nil || !strings.Contains(err.Error(), "cublasLtMatmulAlgoGetHeuristic: CUBLAS_STATUS_NOT_SUPPORTED") {
		t.Errorf("a plan without an algorithm gave %v", err)
	}
	s.Epilogue, s.LDA = EpilogueDefault, 1
	if _, err := l.LtPlan(h, s); err == nil || !strings.Contains(err.Error(), "cublasLtMatrixLayoutCreate(A): CUBLAS_STATUS_INVALID_VALUE") {
		t.Errorf("a plan with lda < rows gave %v", err)
	}
	if n := live(); n != 0 {
		t.Errorf("%d descriptors left alive after failed plans", n)
	}
}

// matrix is host memory holding float32 or bfloat16 elements.
type matrix struct {
	typ int
	f   []float32
	h   []uint16
}

func fill(typ int, n int, v func(int) float64) *matrix {
	x := &matrix{typ: typ}
	if typ == R16BF {
		x.h = make([]uint16, n)
		for i := range x.h {
			x.h[i] = uint16(math.Float32bits(float32(v(i))) >> 16) // exact: small integers
		}
	} else {
		x.f = make([]float32, n)
		for i := range x.f {
			x.f[i] = float32(v(i))
		}
	}
	return x
}

func (x *matrix) get(i int) float64 {
	if x.typ == R16BF {
		return float64(math.Float32frombits(uint32(x.h[i]) << 16))
	}
	return float64(x.f[i])
}

// at returns op(X)(i, j) of the column-major X with leading dimension ld.
func (x *matrix) at(trans bool, i, j, ld int) float64 {
	if trans {
		return x.get(j + i*ld)
	}
	return x.get(i + j*ld)
}

func (x *matrix) addr() uintptr {
	if x.typ == R16BF {
		return uintptr(unsafe.Pointer(&x.h[0]))
	}
	return addr(x.f)
}
