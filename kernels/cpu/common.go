package cpu

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// checkArgs is kernels.CheckArgs with the backend's dtype, plus a check that
// every non-nil tensor lives in this backend's host storage (F32 or F64), so
// that host[T] never hands an op a nil slice for a foreign tensor.
func (b *Backend) checkArgs(op string, args ...kernels.Arg) error {
	if err := kernels.CheckArgs(op, b.dt, args...); err != nil {
		return err
	}
	for _, a := range args {
		if a.T.Nil() {
			continue
		}
		var ok bool
		switch a.T.Data.(type) {
		case kernels.F32, kernels.BF16Host:
			ok = b.dt == kernels.Float32
		case kernels.F64:
			ok = b.dt == kernels.Float64
		}
		if !ok {
			return fmt.Errorf("%s: %s (%v) is not host storage of the %s backend (%T): %w",
				op, a.Name, a.T, b.Name(), a.T.Data, kernels.ErrDType)
		}
	}
	return nil
}

// roundBF16 rounds every element of t to bfloat16 (nearest even) in place
// if t is a bf16 activation (BF16Host storage): the store of an op's
// BFloat16 output. Other tensors are left alone, so the float32 path costs
// one type switch.
func (b *Backend) roundBF16(t kernels.Tensor) {
	d, ok := t.Data.(kernels.BF16Host)
	if !ok {
		return
	}
	b.parallelFor(len(d), 2, func(lo, hi int) { bfloat16.RoundSlice(d[lo:hi]) })
}

// shapeErr wraps a shape struct's Validate error with the op and the struct.
func shapeErr(op string, s any, err error) error {
	return fmt.Errorf("%s %+v: %w", op, s, err)
}

// isFloat32 reports whether T is float32. The size is a constant of each
// instantiation, so the branches it guards compile away.
func isFloat32[T Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// f64Pool recycles float64 scratch buffers (accumulators, row buffers) so
// that hot ops do not allocate on every call.
var f64Pool sync.Pool

// getF64 returns a zeroed scratch buffer of length n; give it back with
// putF64.
func getF64(n int) *[]float64 {
	if p, _ := f64Pool.Get().(*[]float64); p != nil && cap(*p) >= n {
		*p = (*p)[:n]
		clear(*p)
		return p
	}
	s := make([]float64, n)
	return &s
}

// getF64Dirty is getF64 without the clearing, for callers that write every
// element before they read it: the buffer holds whatever a previous user
// left there.
func getF64Dirty(n int) *[]float64 {
	if p, _ := f64Pool.Get().(*[]float64); p != nil && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float64, n)
	return &s
}

// putF64 returns a buffer obtained from getF64 or getF64Dirty to the pool.
func putF64(p *[]float64) { f64Pool.Put(p) }

// reduceBlocks is the most row blocks a reduction is split into. The block
// boundaries depend only on the row count, never on the number of workers,
// so reductions give bit-identical results on every machine.
const reduceBlocks = 32

// rowReduce computes a float64 column reduction over rows: it splits
// [0, rows) into at most reduceBlocks contiguous blocks, calls fn(lo, hi,
// acc, tmp) for each block (in parallel, cost elements touched per row) with
// a zeroed accumulator acc of len(out) and a scratch row tmp of tmpLen, and
// then adds the block accumulators to out in block order.
func (b *Backend) rowReduce(rows, cost, tmpLen int, out []float64, fn func(lo, hi int, acc, tmp []float64)) {
	if rows <= 0 {
		return
	}
	width := len(out)
	nb := min(rows, reduceBlocks)
	per := (rows + nb - 1) / nb
	nb = (rows + per - 1) / per
	stride := width + tmpLen
	buf := getF64(nb * stride)
	defer putF64(buf)
	parts := *buf
	b.parallelFor(nb, per*cost, func(blo, bhi int) {
		for k := blo; k < bhi; k++ {
			lo := k * per
			hi := min(lo+per, rows)
			part := parts[k*stride : (k+1)*stride]
			fn(lo, hi, part[:width:width], part[width:])
		}
	})
	for k := range nb {
		part := parts[k*stride : k*stride+width]
		for j, v := range part {
			out[j] += v
		}
	}
}

// sum64 returns Σ v in float64 with four independent partial sums (which
// hides the latency of the floating-point add).
func sum64[T Float](v []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += float64(v[i])
		s1 += float64(v[i+1])
		s2 += float64(v[i+2])
		s3 += float64(v[i+3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSqDev64 returns Σ (v − mu)² in float64 with four partial sums. Each
// square is rounded before it is added (the conversions forbid a fused
// multiply-add), as in LayerNorm's assembly kernel.
func sumSqDev64[T Float](v []T, mu float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		d0 := float64(v[i]) - mu
		d1 := float64(v[i+1]) - mu
		d2 := float64(v[i+2]) - mu
		d3 := float64(v[i+3]) - mu
		s0 += float64(d0 * d0)
		s1 += float64(d1 * d1)
		s2 += float64(d2 * d2)
		s3 += float64(d3 * d3)
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - mu
		s0 += float64(d * d)
	}
	return (s0 + s1) + (s2 + s3)
}
