//go:build amd64 && !purego

package cpu

// mulAddRowsAsm will dispatch float32 runs to AVX2 assembly; for now it
// reports false and the generic loop runs.
func mulAddRowsAsm[T Float](y []T, ys int, x []T, xs int, w []T, rows int) bool { return false }

// dotAddRowsAsm will dispatch float32 runs to AVX2 assembly; for now it
// reports false and the generic loop runs.
func dotAddRowsAsm[T Float](acc []T, a []T, as int, b []T, bs int, rows int) bool { return false }
