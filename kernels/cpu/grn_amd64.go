//go:build amd64 && !purego

package cpu

// The AVX2 kernels of grn_amd64.s for the float32 backend's GRN: float32
// data, float64 arithmetic in the same operations and order as the Go loops
// of grn.go (grnSumSq, grnDot, grnScaleShift, grnGradApply, grnCoef,
// grnGradCoef), which they replace, so both give bit-identical results.
// The row kernels walk rows r < rows of c channels at a stride of stride
// elements, each channel's sum in row order. The products of two float32
// values are exact in float64, so the sums' fused multiply-adds round as
// the Go loops' multiply and add do; everywhere else the kernels multiply
// and add separately, as the Go loops must.

//go:noescape
func grnSumSqF32(ss *float64, x *float32, stride, c, rows int)

//go:noescape
func grnDotF32(sum, sumDy *float64, dy, x *float32, stride, c, rows int)

//go:noescape
func grnScaleShiftF32(y, x *float32, stride int, a, bb *float64, c, rows int)

//go:noescape
func grnGradApplyF32(dx, dy, x *float32, stride int, a, k *float64, c, rows int)

//go:noescape
func grnCoefF32(a *float64, gn, gamma *float32, c int, eps float64)

//go:noescape
func grnGradCoefF32(sum, a, k *float64, norm, gamma *float32, c int, eps float64)

// hasGRNAsm reports whether the GRN helpers run assembly.
var hasGRNAsm = hasAVX2FMA

// stridedOK reports whether n slices of the given lengths hold rows rows of
// c elements at a stride of stride, so that the kernels stay in bounds.
func stridedOK(c, stride, rows int, lens ...int) bool {
	if c <= 0 || rows <= 0 || stride < c {
		return false
	}
	need := (rows-1)*stride + c
	for _, l := range lens {
		if l < need {
			return false
		}
	}
	return true
}

// grnSumSqAsm runs grnSumSq with grnSumSqF32 on float32 data when the CPU
// has AVX2 and FMA, and reports whether it did.
func grnSumSqAsm[T Float](ss []float64, x []T, stride, rows int) bool {
	x32, ok := any(x).([]float32)
	if !hasGRNAsm || !ok || !stridedOK(len(ss), stride, rows, len(x32)) {
		return false
	}
	grnSumSqF32(&ss[0], &x32[0], stride, len(ss), rows)
	return true
}

// grnScaleShiftAsm runs grnScaleShift with grnScaleShiftF32 like
// grnSumSqAsm.
func grnScaleShiftAsm[T Float](y, x []T, stride int, a, bb []float64, rows int) bool {
	x32, ok := any(x).([]float32)
	if !hasGRNAsm || !ok || len(bb) < len(a) {
		return false
	}
	y32 := any(y).([]float32)
	if !stridedOK(len(a), stride, rows, len(x32), len(y32)) {
		return false
	}
	grnScaleShiftF32(&y32[0], &x32[0], stride, &a[0], &bb[0], len(a), rows)
	return true
}

// grnDotAsm runs grnDot with grnDotF32 like grnSumSqAsm.
func grnDotAsm[T Float](sum, sumDy []float64, dy, x []T, stride, rows int) bool {
	x32, ok := any(x).([]float32)
	if !hasGRNAsm || !ok || len(sumDy) < len(sum) {
		return false
	}
	dy32 := any(dy).([]float32)
	if !stridedOK(len(sum), stride, rows, len(x32), len(dy32)) {
		return false
	}
	grnDotF32(&sum[0], &sumDy[0], &dy32[0], &x32[0], stride, len(sum), rows)
	return true
}

// grnGradApplyAsm runs grnGradApply with grnGradApplyF32 like grnSumSqAsm.
func grnGradApplyAsm[T Float](dx, dy, x []T, stride int, a, k []float64, rows int) bool {
	x32, ok := any(x).([]float32)
	if !hasGRNAsm || !ok || len(k) < len(a) {
		return false
	}
	dx32, dy32 := any(dx).([]float32), any(dy).([]float32)
	if !stridedOK(len(a), stride, rows, len(x32), len(dx32), len(dy32)) {
		return false
	}
	grnGradApplyF32(&dx32[0], &dy32[0], &x32[0], stride, &a[0], &k[0], len(a), rows)
	return true
}

// grnCoefAsm runs grnCoef with grnCoefF32 like grnSumSqAsm.
func grnCoefAsm[T Float](a []float64, gn, gamma []T, eps float64) bool {
	gn32, ok := any(gn).([]float32)
	c := len(a)
	if !hasGRNAsm || !ok || c == 0 || len(gn32) < c || len(gamma) < c {
		return false
	}
	grnCoefF32(&a[0], &gn32[0], &any(gamma).([]float32)[0], c, eps)
	return true
}

// grnGradCoefAsm runs grnGradCoef with grnGradCoefF32 like grnSumSqAsm.
func grnGradCoefAsm[T Float](sum, a, k []float64, g, gamma []T, eps float64) bool {
	g32, ok := any(g).([]float32)
	c := len(sum)
	if !hasGRNAsm || !ok || c == 0 || len(a) < c || len(k) < c || len(g32) < c || len(gamma) < c {
		return false
	}
	grnGradCoefF32(&sum[0], &a[0], &k[0], &g32[0], &any(gamma).([]float32)[0], c, eps)
	return true
}
