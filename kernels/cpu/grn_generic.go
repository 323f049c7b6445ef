//go:build !amd64 || purego

package cpu

// grnSumSqAsm reports false: this build has no assembly GRN kernels.
func grnSumSqAsm[T Float](ss []float64, x []T, stride, rows int) bool { return false }

// grnScaleShiftAsm reports false: this build has no assembly GRN kernels.
func grnScaleShiftAsm[T Float](y, x []T, stride int, a, bb []float64, rows int) bool { return false }

// grnDotAsm reports false: this build has no assembly GRN kernels.
func grnDotAsm[T Float](sum, sumDy []float64, dy, x []T, stride, rows int) bool { return false }

// grnGradApplyAsm reports false: this build has no assembly GRN kernels.
func grnGradApplyAsm[T Float](dx, dy, x []T, stride int, a, k []float64, rows int) bool { return false }

// grnCoefAsm reports false: this build has no assembly GRN kernels.
func grnCoefAsm[T Float](a []float64, gn, gamma []T, eps float64) bool { return false }

// grnGradCoefAsm reports false: this build has no assembly GRN kernels.
func grnGradCoefAsm[T Float](sum, a, k []float64, g, gamma []T, eps float64) bool { return false }

// hasGRNAsm reports whether the GRN helpers run assembly.
const hasGRNAsm = false
