//go:build !cgo || !unix

package cpu

// loadOpenBLAS returns nil: without cgo the backend cannot call OpenBLAS and
// uses gonum's pure-Go BLAS.
func loadOpenBLAS(threads int) *blasImpl { return nil }
