//go:build amd64 && !purego

package cpu

// The AVX2 kernels of layernorm_amd64.s for the float32 backend's
// LayerNorm and LayerNormGELU: float32 rows, float64 arithmetic in the same
// operations and order as layerNormRowsGo, normAffineRowsGo and
// layerNormGradRowsGo, which they replace, so both give bit-identical
// results.

//go:noescape
func layerNormRowsF32(y, x *float32, mean, rstd *float32, w, b *float64, c, rows int, eps float64)

//go:noescape
func normAffineRowsF32(y, x *float32, mean, rstd *float32, w, b *float64, c, rows int)

//go:noescape
func layerNormGradRowsF32(dx, dy, x *float32, mean, rstd *float32, w, accW, accB *float64, c, rows int, invC float64)

// hasLayerNormAsm reports whether the LayerNorm row helpers run assembly.
var hasLayerNormAsm = hasAVX2FMA

// f32Rows returns y, mean, rstd and x as float32 slices for the row
// kernels, with c = len(w) and rows = len(mean), and whether those can run:
// the CPU has AVX2, the data is float32, c and rows are not zero, and every
// slice is long enough.
func f32Rows[T Float](y, mean, rstd, x []T, w, bias []float64) (y32, mean32, rstd32, x32 []float32, ok bool) {
	x32, ok = any(x).([]float32)
	c, rows := len(w), len(mean)
	if !hasLayerNormAsm || !ok || c == 0 || rows == 0 || len(bias) < c {
		return nil, nil, nil, nil, false
	}
	y32, mean32, rstd32 = any(y).([]float32), any(mean).([]float32), any(rstd).([]float32)
	ok = len(x32) >= rows*c && len(y32) >= rows*c && len(rstd32) >= rows
	return y32, mean32, rstd32, x32, ok
}

// layerNormRowsAsm runs layerNormRows with layerNormRowsF32 on float32 data
// when the CPU has AVX2, and reports whether it did.
func layerNormRowsAsm[T Float](y, mean, rstd, x []T, w, bias []float64, eps float64) bool {
	y32, mean32, rstd32, x32, ok := f32Rows(y, mean, rstd, x, w, bias)
	if ok {
		layerNormRowsF32(&y32[0], &x32[0], &mean32[0], &rstd32[0], &w[0], &bias[0], len(w), len(mean), eps)
	}
	return ok
}

// normAffineRowsAsm runs normAffineRows with normAffineRowsF32 like
// layerNormRowsAsm.
func normAffineRowsAsm[T Float](y, mean, rstd, x []T, w, bias []float64) bool {
	y32, mean32, rstd32, x32, ok := f32Rows(y, mean, rstd, x, w, bias)
	if ok {
		normAffineRowsF32(&y32[0], &x32[0], &mean32[0], &rstd32[0], &w[0], &bias[0], len(w), len(mean))
	}
	return ok
}

// layerNormGradRowsAsm runs layerNormGradRows with layerNormGradRowsF32
// like layerNormRowsAsm.
func layerNormGradRowsAsm[T Float](dx, dy, x, mean, rstd []T, w, accW, accB []float64) bool {
	x32, ok := any(x).([]float32)
	c, rows := len(w), len(mean)
	if !hasLayerNormAsm || !ok || c == 0 || rows == 0 || len(accW) < c || len(accB) < c {
		return false
	}
	dx32, dy32 := any(dx).([]float32), any(dy).([]float32)
	mean32, rstd32 := any(mean).([]float32), any(rstd).([]float32)
	if len(x32) < rows*c || len(dx32) < rows*c || len(dy32) < rows*c || len(rstd32) < rows {
		return false
	}
	layerNormGradRowsF32(&dx32[0], &dy32[0], &x32[0], &mean32[0], &rstd32[0], &w[0], &accW[0], &accB[0], c, rows, 1/float64(c))
	return true
}
