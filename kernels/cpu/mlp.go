package cpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

var _ kernels.MLPOps = (*Backend)(nil)

// BiasGELUSumSq writes h = GELU_erf(a + bias) for a and h [N, HW, C] and
// bias [C] (the zero Tensor when a already holds it), rounds h to bf16 where h is a bf16 activation, and
// writes sumSq [N, C] = Σ_hw h² of the stored h, summed in float64 one row
// after another as GRN's sum-of-squares pass does (grnSumSq), then stored
// as float32. It is the reference of the CUDA backend's fused kernel
// (kernels.MLPOps). It returns an error wrapping kernels.ErrShape for an
// invalid s or a missing or mis-sized tensor, kernels.ErrDType for a
// foreign one.
func (b *Backend) BiasGELUSumSq(h, sumSq, a, bias kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu bias gelu sumsq"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	x := kernels.Shape{s.N, s.HW, s.C}
	if err := b.checkArgs(op, kernels.Arg{Name: "a", T: a, Want: x}, kernels.Arg{Name: "h", T: h, Want: x},
		kernels.Arg{Name: "bias", T: bias, Want: kernels.Shape{s.C}, Optional: true}, kernels.Arg{Name: "sumSq", T: sumSq, Want: kernels.Shape{s.N, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		biasGELU(b, host[float64](h), host[float64](a), host[float64](bias), s.C)
	} else {
		biasGELU(b, host[float32](h), host[float32](a), host[float32](bias), s.C)
	}
	b.roundBF16(h)
	if b.dt == kernels.Float64 {
		hiddenSumSq(b, host[float64](sumSq), host[float64](h), s)
	} else {
		hiddenSumSq(b, host[float32](sumSq), host[float32](h), s)
	}
	return nil
}

// GRNApply is [Backend.GRN] with the sums of squares of x [N, HW, C] given
// in sumSq [N, C] (from BiasGELUSumSq): gnorm = sqrt(sumSq), the channel
// mean and the coefficients exactly as GRN computes them from its own sums
// (grnCoef), then one output pass (grnScaleShift). y may alias x. Errors
// as for BiasGELUSumSq.
func (b *Backend) GRNApply(y, gnorm, x, sumSq, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn apply"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	args := append(s.ForwardArgs(y, gnorm, x, gamma, beta), kernels.Arg{Name: "sumSq", T: sumSq, Want: kernels.Shape{s.N, s.C}})
	if err := b.checkArgs(op, args...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		grnApply(b, host[float64](y), host[float64](gnorm), host[float64](x), host[float64](sumSq), host[float64](gamma), host[float64](beta), s)
	} else {
		grnApply(b, host[float32](y), host[float32](gnorm), host[float32](x), host[float32](sumSq), host[float32](gamma), host[float32](beta), s)
	}
	b.roundBF16(y)
	return nil
}

// GRNGELUBackward is GRNBackward of the GRN whose input was h (dh = the
// gradient of h, not stored, overwriting da), then da = dh·GELU_erf'(a +
// bias) (bias the zero Tensor when a holds it) and dbias [C] += Σ_{n,hw} da, summed (addColumnSums) before da is
// rounded to bf16 where it is a bf16 activation. dgamma and dbeta [C]
// accumulate as in GRNBackward. Errors as for BiasGELUSumSq.
func (b *Backend) GRNGELUBackward(da, dbias, dgamma, dbeta, dy, h, a, bias, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn gelu backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	x := kernels.Shape{s.N, s.HW, s.C}
	args := append(s.BackwardArgs(da, dgamma, dbeta, dy, h, gnorm, gamma),
		kernels.Arg{Name: "a", T: a, Want: x}, kernels.Arg{Name: "bias", T: bias, Want: kernels.Shape{s.C}, Optional: true},
		kernels.Arg{Name: "dbias", T: dbias, Want: kernels.Shape{s.C}})
	if err := b.checkArgs(op, args...); err != nil {
		return err
	}
	if da.Nil() || dbias.Nil() {
		return fmt.Errorf("%s: da and dbias are required: %w", op, kernels.ErrShape)
	}
	if b.dt == kernels.Float64 {
		grnGELUBackward(b, host[float64](da), host[float64](dbias), host[float64](dgamma), host[float64](dbeta),
			host[float64](dy), host[float64](h), host[float64](a), host[float64](bias), host[float64](gnorm), host[float64](gamma), s)
	} else {
		grnGELUBackward(b, host[float32](da), host[float32](dbias), host[float32](dgamma), host[float32](dbeta),
			host[float32](dy), host[float32](h), host[float32](a), host[float32](bias), host[float32](gnorm), host[float32](gamma), s)
	}
	b.roundBF16(da)
	return nil
}

// biasGELU writes h[r,c] = GELU_erf(a[r,c] + bias[c]) (bias nil: a[r,c]),
// the sum rounded to T as the unfused bias add stores it.
func biasGELU[T Float](b *Backend, h, a, bias []T, C int) {
	fast := isFloat32[T]()
	b.parallelFor(len(a)/C, C*(1+geluCostOf(fast)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			hr := h[r*C : (r+1)*C]
			addBiasRow(hr, a[r*C:(r+1)*C], bias)
			geluSlice(hr, hr, kernels.GELUErf, fast)
		}
	})
}

// addBiasRow writes dst[c] = a[c] + bias[c], or a copy of a when bias is
// nil (the product already added it).
func addBiasRow[T Float](dst, a, bias []T) {
	if bias == nil {
		copy(dst, a)
		return
	}
	bias = bias[:len(a)]
	for c, v := range a {
		dst[c] = v + bias[c]
	}
}

// hiddenSumSq writes ss[n,c] = Σ_hw x[n,hw,c]², summed by grnSumSq.
func hiddenSumSq[T Float](b *Backend, ss, x []T, s kernels.GRNShape) {
	C, HW := s.C, s.HW
	buf := getF64Dirty(s.N * C)
	defer putF64(buf)
	acc := *buf
	b.parallelFor(s.N, HW*C, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			grnSumSq(acc[n*C:(n+1)*C], x[n*HW*C:(n+1)*HW*C], C, HW)
			for c, v := range acc[n*C : (n+1)*C] {
				ss[n*C+c] = T(v)
			}
		}
	})
}

// grnApply is grn's coefficient and output passes on given sums.
func grnApply[T Float](b *Backend, y, gnorm, x, sumSq, gamma, beta []T, s kernels.GRNShape) {
	N, HW, C := s.N, s.HW, s.C
	buf := getF64Dirty((N + 1) * C)
	defer putF64(buf)
	scratch := *buf
	bb := scratch[N*C:]
	for c, v := range beta[:C] {
		bb[c] = float64(v)
	}
	b.parallelFor(N, 2*HW*C, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			a := scratch[n*C : (n+1)*C]
			for c, v := range sumSq[n*C : (n+1)*C] {
				a[c] = float64(v)
			}
			grnCoef(a, gnorm[n*C:(n+1)*C], gamma[:C], s.Eps)
			grnScaleShift(y[n*HW*C:(n+1)*HW*C], x[n*HW*C:(n+1)*HW*C], C, a, bb[:C], HW)
		}
	})
}

// grnGELUBackward is grnBackward into da, then the GELU backward at a +
// bias in place and the bias gradient.
func grnGELUBackward[T Float](b *Backend, da, dbias, dgamma, dbeta, dy, h, a, bias, gnorm, gamma []T, s kernels.GRNShape) {
	grnBackward(b, da, dgamma, dbeta, dy, h, gnorm, gamma, s)
	C, rows := s.C, s.N*s.HW
	fast := isFloat32[T]()
	b.parallelFor(rows, C*(1+geluCostOf(fast)), func(lo, hi int) {
		pre := make([]T, C)
		for r := lo; r < hi; r++ {
			addBiasRow(pre, a[r*C:(r+1)*C], bias)
			geluGradSlice(da[r*C:(r+1)*C], da[r*C:(r+1)*C], pre, kernels.GELUErf, fast)
		}
	})
	addColumnSums(b, dbias, da, rows, C)
}
