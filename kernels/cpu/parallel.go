package cpu

import "sync"

// minGrain is the smallest amount of work, in elements touched, worth a
// goroutine of its own.
const minGrain = 1 << 14

// parallelFor splits [0, n) into contiguous chunks and calls fn(lo, hi) for
// each on up to b.workers goroutines, returning when all are done. cost is
// the work per index in elements touched; small loops run on the caller.
func (b *Backend) parallelFor(n, cost int, fn func(lo, hi int)) {
	w := b.workers
	if cost < 1 {
		cost = 1
	}
	if maxW := n * cost / minGrain; maxW < w {
		w = maxW
	}
	if w > n {
		w = n
	}
	if w <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
