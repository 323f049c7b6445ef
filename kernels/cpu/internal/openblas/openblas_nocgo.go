//go:build !cgo || !unix

package openblas

// Available reports whether this build can call OpenBLAS: without cgo it
// cannot.
const Available = false

// Load reports false: without cgo the library cannot be called.
func Load(lib string, threads int) (config string, ok bool) { return "", false }

// Sgemm panics: without cgo nothing is loaded.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("openblas: not available without cgo")
}

// Dgemm panics: without cgo nothing is loaded.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("openblas: not available without cgo")
}
