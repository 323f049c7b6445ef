package cpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// Test helpers for the convolution family: tensors from float64 values,
// naive direct-loop references and a central-difference gradient checker.

// refDWConv is the depthwise convolution by its definition, in float64.
func refDWConv(x, w, b []float64, s kernels.DWConvShape) []float64 {
	oh, ow, p := s.OutH(), s.OutW(), s.Pad()
	y := make([]float64, s.N*oh*ow*s.C)
	for n := range s.N {
		for i := range oh {
			for j := range ow {
				for c := range s.C {
					sum := 0.0
					if b != nil {
						sum = b[c]
					}
					for kh := range s.K {
						for kw := range s.K {
							ih, iw := i*s.Stride+kh-p, j*s.Stride+kw-p
							if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
								continue
							}
							sum += x[((n*s.H+ih)*s.W+iw)*s.C+c] * w[(c*s.K+kh)*s.K+kw]
						}
					}
					y[((n*oh+i)*ow+j)*s.C+c] = sum
				}
			}
		}
	}
	return y
}

// refConv2D is the dense or grouped convolution by its definition, in
// float64.
func refConv2D(x, w, b []float64, s kernels.ConvShape) []float64 {
	oh, ow := s.OutH(), s.OutW()
	cg, cog := s.CIn/s.G(), s.COut/s.G()
	y := make([]float64, s.N*oh*ow*s.COut)
	for n := range s.N {
		for i := range oh {
			for j := range ow {
				for co := range s.COut {
					sum := 0.0
					if b != nil {
						sum = b[co]
					}
					for cj := range cg {
						ci := co/cog*cg + cj
						for kh := range s.K {
							for kw := range s.K {
								ih, iw := i*s.Stride+kh-s.Pad, j*s.Stride+kw-s.Pad
								if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
									continue
								}
								sum += x[((n*s.H+ih)*s.W+iw)*s.CIn+ci] * w[((co*cg+cj)*s.K+kh)*s.K+kw]
							}
						}
					}
					y[((n*oh+i)*ow+j)*s.COut+co] = sum
				}
			}
		}
	}
	return y
}

// refLinear is y = x·wᵀ + b by its definition, in float64.
func refLinear(x, w, b []float64, s kernels.LinearShape) []float64 {
	y := make([]float64, s.Rows*s.Out)
	for r := range s.Rows {
		for o := range s.Out {
			sum := 0.0
			if b != nil {
				sum = b[o]
			}
			for i := range s.In {
				sum += x[r*s.In+i] * w[o*s.In+i]
			}
			y[r*s.Out+o] = sum
		}
	}
	return y
}

// gradParam is one differentiable input of an op under a gradient check.
type gradParam struct {
	name  string
	value kernels.Tensor // on the float64 backend
	grad  kernels.Tensor // nil: the op is asked to skip this gradient
	// overwrite marks an activation gradient (dx): overwritten, not
	// accumulated, so it is pre-filled with junk rather than a base value.
	overwrite bool
}

// gradCheck compares an op's backward against central differences of
// L = Σ y·r with random r (so dy = r), for every parameter whose grad is
// set. Accumulated gradients start at random values that must be kept;
// overwritten ones start at junk that must vanish.
func gradCheck(t *testing.T, seed uint64, yShape kernels.Shape, params []gradParam,
	forward func(y kernels.Tensor) error, backward func(dy kernels.Tensor) error) {
	t.Helper()
	be := New64()
	rng := testutil.NewRand(seed)
	r := testutil.Rand64(rng, yShape.Len(), 1)
	y := newT(t, be, yShape, nil)
	dy := newT(t, be, yShape, r)
	base := make([][]float64, len(params))
	for i, p := range params {
		if p.grad.Nil() {
			continue
		}
		g := p.grad.Host64()
		if p.overwrite {
			for j := range g {
				g[j] = 1e3 * float64(j%7-3)
			}
			continue
		}
		base[i] = testutil.Rand64(rng, len(g), 1)
		copy(g, base[i])
	}
	if err := backward(dy); err != nil {
		t.Fatalf("backward: %v", err)
	}
	if got := dy.Host64(); testutil.Compare(got, r, 0, 0) != nil {
		t.Fatalf("backward modified dy")
	}
	loss := func() float64 {
		if err := forward(y); err != nil {
			t.Fatalf("forward: %v", err)
		}
		sum := 0.0
		for i, v := range y.Host64() {
			sum += v * r[i]
		}
		return sum
	}
	for i, p := range params {
		if p.grad.Nil() {
			continue
		}
		got := vals(p.grad)
		if base[i] != nil {
			for j := range got {
				got[j] -= base[i][j]
			}
		}
		want := testutil.NumGrad(p.value.Host64(), 1e-4, loss)
		testutil.AllClose(t, "d"+p.name, got, want, 1e-6, 1e-9)
	}
}

// withBLAS runs fn with impl as the active BLAS and restores the previous
// one afterwards.
func withBLAS(impl *blasImpl, fn func()) {
	prev := currentBLAS()
	activeBLAS = impl
	defer func() { activeBLAS = prev }()
	fn()
}

func shapeName(v any) string { return strings.ReplaceAll(fmt.Sprintf("%+v", v), " ", ",") }
