//go:build !amd64 || purego

package cpu

import "github.com/nextconv/nextconv/kernels"

// geluAsm reports false: this build has no assembly GELU kernels.
func geluAsm[T Float](y, x []T, approx kernels.GELUApprox) bool { return false }

// geluGradAsm reports false: this build has no assembly GELU kernels.
func geluGradAsm[T Float](dx, dy, x []T, approx kernels.GELUApprox) bool { return false }

// hasGELUAsm reports whether geluAsm and geluGradAsm run assembly.
const hasGELUAsm = false
