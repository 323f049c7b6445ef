package cpu

import (
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// naiveGEMM is C = alpha·op(A)·op(B) + beta·C by its definition, in float64
// (beta == 0 ignores C).
func naiveGEMM(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) []float64 {
	out := append([]float64(nil), c...)
	for i := range m {
		for j := range n {
			sum := 0.0
			for l := range k {
				var av, bv float64
				if ta {
					av = a[l*lda+i]
				} else {
					av = a[i*lda+l]
				}
				if tb {
					bv = b[j*ldb+l]
				} else {
					bv = b[l*ldb+j]
				}
				sum += av * bv
			}
			v := alpha * sum
			if beta != 0 {
				v += beta * c[i*ldc+j]
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

// blasImpls returns the implementations to test: the active one and gonum
// (once if they are the same).
func blasImpls() []*blasImpl {
	impls := []*blasImpl{currentBLAS()}
	if currentBLAS().name != "gonum" {
		impls = append(impls, gonumBLAS())
	}
	return impls
}

func TestGEMMMatchesNaive(t *testing.T) {
	t.Logf("BLAS: %s", BLAS())
	const m, n, k = 7, 5, 9
	for _, impl := range blasImpls() {
		withBLAS(impl, func() {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, beta := range []float64{0, 0.5} {
						rng := testutil.NewRand(11)
						rowsA, colsA := m, k
						if ta {
							rowsA, colsA = k, m
						}
						rowsB, colsB := k, n
						if tb {
							rowsB, colsB = n, k
						}
						lda, ldb, ldc := colsA+2, colsB+1, n+3
						a := roundTo32(testutil.Rand64(rng, rowsA*lda, 1))
						b := roundTo32(testutil.Rand64(rng, rowsB*ldb, 1))
						c := roundTo32(testutil.Rand64(rng, m*ldc, 1))
						want := naiveGEMM(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
						c32 := make([]float32, len(c))
						for i, v := range c {
							c32[i] = float32(v)
							if beta == 0 && i%ldc < n {
								c32[i] = float32(math.NaN()) // beta 0 ignores C
							}
						}
						a32, b32 := toF32(a), toF32(b)
						SGEMM(ta, tb, m, n, k, 1.5, a32, lda, b32, ldb, float32(beta), c32, ldc)
						what := impl.name + " SGEMM"
						testutil.AllClose(t, what, c32, want, 1e-5, 1e-5)
						c64 := append([]float64(nil), c...)
						if beta == 0 {
							for i := range c64 {
								if i%ldc < n {
									c64[i] = math.NaN()
								}
							}
						}
						DGEMM(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c64, ldc)
						testutil.AllClose(t, impl.name+" DGEMM", c64, want, 1e-12, 1e-12)
					}
				}
			}
		})
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestSGEMMZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	SGEMM(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	testutil.AllClose(t, "k=0 scales C by beta", c, []float32{0.5, 1, 1.5, 2}, 0, 0)
}

func TestSGEMMPanicsOnShortSlice(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "SGEMM") || !strings.Contains(msg, "B has 5 elements") {
			t.Errorf("panic %v, want one about B being too short", r)
		}
	}()
	SGEMM(false, false, 2, 3, 2, 1, make([]float32, 4), 2, make([]float32, 5), 3, 0, make([]float32, 6), 3)
}

// TestGonumMatchesOpenBLAS runs the GEMM-based ops with each BLAS forced in
// turn and compares the results.
func TestGonumMatchesOpenBLAS(t *testing.T) {
	if BLAS() == "gonum" {
		t.Skip("OpenBLAS is not loaded in this build; nothing to compare gonum with")
	}
	lin := kernels.LinearShape{Rows: 333, In: 40, Out: 160}
	conv := kernels.ConvShape{N: 3, H: 23, W: 17, CIn: 5, COut: 24, K: 3, Stride: 2, Pad: 1}
	run := func() [][]float64 {
		be := New()
		rng := testutil.NewRand(21)
		x := newT(t, be, kernels.Shape{lin.Rows, lin.In}, testutil.Rand64(rng, lin.Rows*lin.In, 1))
		w := newT(t, be, kernels.Shape{lin.Out, lin.In}, testutil.Rand64(rng, lin.Out*lin.In, 1))
		b := newT(t, be, kernels.Shape{lin.Out}, testutil.Rand64(rng, lin.Out, 1))
		y := newT(t, be, kernels.Shape{lin.Rows, lin.Out}, nil)
		dy := newT(t, be, kernels.Shape{lin.Rows, lin.Out}, testutil.Rand64(rng, lin.Rows*lin.Out, 1))
		dx, dw := newT(t, be, x.Shape, nil), newT(t, be, w.Shape, nil)
		cx := newT(t, be, conv.XShape(), testutil.Rand64(rng, conv.XShape().Len(), 1))
		cw := newT(t, be, conv.WShape(), testutil.Rand64(rng, conv.WShape().Len(), 1))
		cy := newT(t, be, conv.YShape(), nil)
		cdy := newT(t, be, conv.YShape(), testutil.Rand64(rng, conv.YShape().Len(), 1))
		cdx, cdw := newT(t, be, cx.Shape, nil), newT(t, be, cw.Shape, nil)
		for _, err := range []error{
			be.Linear(y, x, w, b, lin),
			be.LinearBackward(dx, dw, kernels.Tensor{}, dy, x, w, lin),
			be.Conv2D(cy, cx, cw, kernels.Tensor{}, conv),
			be.Conv2DBackward(cdx, cdw, kernels.Tensor{}, cdy, cx, cw, conv),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return [][]float64{vals(y), vals(dx), vals(dw), vals(cy), vals(cdx), vals(cdw)}
	}
	open := run()
	var gon [][]float64
	withBLAS(gonumBLAS(), func() { gon = run() })
	for i, name := range []string{"linear y", "linear dx", "linear dw", "conv y", "conv dx", "conv dw"} {
		testutil.AllClose(t, name+" gonum vs "+BLAS(), gon[i], open[i], 1e-5, 1e-4)
	}
}

// TestBLASEnvForcesGonum re-runs itself with NEXTCONV_BLAS=gonum and checks
// that the fallback is chosen.
func TestBLASEnvForcesGonum(t *testing.T) {
	if os.Getenv(blasEnv) == "gonum" {
		if got := BLAS(); got != "gonum" {
			t.Fatalf("BLAS() = %q with %s=gonum", got, blasEnv)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBLASEnvForcesGonum$", "-test.count=1")
	cmd.Env = append(os.Environ(), blasEnv+"=gonum")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child with %s=gonum: %v\n%s", blasEnv, err, out)
	}
}
