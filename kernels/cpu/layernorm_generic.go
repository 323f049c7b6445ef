//go:build !amd64 || purego

package cpu

// layerNormRowsAsm reports false: this build has no assembly LayerNorm
// kernels.
func layerNormRowsAsm[T Float](y, mean, rstd, x []T, w, bias []float64, eps float64) bool {
	return false
}

// normAffineRowsAsm reports false: this build has no assembly LayerNorm
// kernels.
func normAffineRowsAsm[T Float](y, mean, rstd, x []T, w, bias []float64) bool {
	return false
}

// layerNormGradRowsAsm reports false: this build has no assembly LayerNorm
// kernels.
func layerNormGradRowsAsm[T Float](dx, dy, x, mean, rstd []T, w, accW, accB []float64) bool {
	return false
}

// hasLayerNormAsm reports whether the LayerNorm row helpers run assembly.
const hasLayerNormAsm = false
