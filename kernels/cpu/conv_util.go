package cpu

import "sync"

// Helpers shared by the convolution family (linear.go, conv2d.go,
// dwconv.go): scratch buffers, column sums and the two
// row kernels the depthwise loops are built from.

// scratchPools hold reusable buffers: index 0 for float32, 1 for float64.
var scratchPools [2]sync.Pool

// getScratch returns a buffer of n elements with unspecified contents from
// the pool (or a new one). Return it with putScratch.
func getScratch[T Float](n int) *[]T {
	var zero T
	pool := &scratchPools[poolIndex(zero)]
	if p, _ := pool.Get().(*[]T); p != nil && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	buf := make([]T, n)
	return &buf
}

// putScratch gives a buffer from getScratch back to the pool.
func putScratch[T Float](p *[]T) {
	var zero T
	scratchPools[poolIndex(zero)].Put(p)
}

func poolIndex[T Float](v T) int {
	if _, ok := any(v).(float64); ok {
		return 1
	}
	return 0
}

// addColumnSums accumulates db[c] += Σ_r dy[r·cols + c] over rows r. Each
// worker sums a fixed contiguous block of rows in float64, and the blocks
// are added in order, so the result depends only on the shape and the
// worker count.
func addColumnSums[T Float](b *Backend, db, dy []T, rows, cols int) {
	chunks := min(b.workers, max(1, rows*cols/minGrain))
	partial := make([]float64, chunks*cols)
	per := (rows + chunks - 1) / chunks
	b.parallelFor(chunks, minGrain, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			acc := partial[ch*cols : (ch+1)*cols]
			for r := ch * per; r < min(rows, (ch+1)*per); r++ {
				row := dy[r*cols : (r+1)*cols]
				for c, v := range row {
					acc[c] += float64(v)
				}
			}
		}
	})
	for c := range cols {
		s := 0.0
		for ch := range chunks {
			s += partial[ch*cols+c]
		}
		db[c] += T(s)
	}
}

// fillRows writes v [cols] into each of the rows rows of y [rows, cols], or
// zeros when v is nil.
func fillRows[T Float](b *Backend, y, v []T, rows, cols int) {
	b.parallelFor(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := y[r*cols : (r+1)*cols]
			if v == nil {
				clear(row)
			} else {
				copy(row, v)
			}
		}
	})
}

// mulAddRows computes y[r·ys + c] += x[r·xs + c]·w[c] for r < rows and
// c < len(w): a run of NHWC pixels times one tap's per-channel weights.
func mulAddRows[T Float](y []T, ys int, x []T, xs int, w []T, rows int) {
	if rows <= 0 {
		return
	}
	if mulAddRowsAsm(y, ys, x, xs, w, rows) {
		return
	}
	c := len(w)
	for r := range rows {
		yr := y[r*ys : r*ys+c]
		xr := x[r*xs : r*xs+c]
		for i, wv := range w {
			yr[i] += xr[i] * wv
		}
	}
}

// dotAddRows computes acc[c] += Σ_{r < rows} a[r·as + c]·b[r·bs + c] for
// c < len(acc): one tap's weight gradient over a run of pixels.
func dotAddRows[T Float](acc []T, a []T, as int, b []T, bs int, rows int) {
	if rows <= 0 {
		return
	}
	if dotAddRowsAsm(acc, a, as, b, bs, rows) {
		return
	}
	c := len(acc)
	for r := range rows {
		ar := a[r*as : r*as+c]
		br := b[r*bs : r*bs+c]
		for i := range acc {
			acc[i] += ar[i] * br[i]
		}
	}
}
