//go:build !amd64 || purego

package cpu

// mulAddRowsAsm reports false: this build has no assembly row kernels.
func mulAddRowsAsm[T Float](y []T, ys int, x []T, xs int, w []T, rows int) bool { return false }

// dotAddRowsAsm reports false: this build has no assembly row kernels.
func dotAddRowsAsm[T Float](acc []T, a []T, as int, b []T, bs int, rows int) bool { return false }
