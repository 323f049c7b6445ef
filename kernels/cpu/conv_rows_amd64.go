//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the CPU and OS support the AVX2 + FMA3 row
// kernels in conv_rows_amd64.s.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func mulAddRowsF32(y *float32, ys int, x *float32, xs int, w *float32, c int, rows int)

//go:noescape
func dotAddRowsF32(acc *float32, a *float32, as int, b *float32, bs int, c int, rows int)

// mulAddRowsAsm runs mulAddRows on float32 data with AVX2 when the CPU has
// it and the slices hold every element the kernel touches; it reports
// whether it did.
func mulAddRowsAsm[T Float](y []T, ys int, x []T, xs int, w []T, rows int) bool {
	if !hasAVX2FMA {
		return false
	}
	y32, ok := any(y).([]float32)
	if !ok {
		return false
	}
	x32, w32 := any(x).([]float32), any(w).([]float32)
	c := len(w32)
	if c == 0 || ys < c || xs < 0 || len(y32) < (rows-1)*ys+c || len(x32) < (rows-1)*xs+c {
		return false
	}
	mulAddRowsF32(&y32[0], ys, &x32[0], xs, &w32[0], c, rows)
	return true
}

// dotAddRowsAsm runs dotAddRows on float32 data with AVX2 when the CPU has
// it and the slices hold every element the kernel touches; it reports
// whether it did.
func dotAddRowsAsm[T Float](acc []T, a []T, as int, b []T, bs int, rows int) bool {
	if !hasAVX2FMA {
		return false
	}
	acc32, ok := any(acc).([]float32)
	if !ok {
		return false
	}
	a32, b32 := any(a).([]float32), any(b).([]float32)
	c := len(acc32)
	if c == 0 || as < 0 || bs < 0 || len(a32) < (rows-1)*as+c || len(b32) < (rows-1)*bs+c {
		return false
	}
	dotAddRowsF32(&acc32[0], &a32[0], as, &b32[0], bs, c, rows)
	return true
}
