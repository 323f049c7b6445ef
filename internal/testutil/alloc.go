package testutil

import "runtime"

// Allocated returns the bytes f allocated on the Go heap (the growth of
// runtime.MemStats.TotalAlloc). TotalAlloc counts every allocation, freed or
// not, so this bounds f's peak heap from above: tests use it to bound what
// refusing a bad input costs.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
