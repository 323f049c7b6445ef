package sim_test

import (
	"testing"

	"github.com/nextconv/nextconv/cuda"
)

// BenchmarkAxpySerial: a sync-free kernel runs its threads one after another
// on the launching thread; the figures of merit are ns per CUDA thread and
// Go heap allocations per launch (0: the arguments are packed into a reused
// cuda.Args).
func BenchmarkAxpySerial(b *testing.B) {
	d := newDriver(b)
	const n = 1 << 16
	x := alloc(b, d, n, float32(1))
	y := alloc(b, d, n, float32(0))
	f := function(b, d, "sim_axpy")
	var a cuda.Args
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := d.Launch(f, dim1(n/256), dim1(256), 0, a.Reset().Ptr(y).Ptr(x).Float32(0.5).Int32(n)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/thread")
}

// BenchmarkBlockSum256: 256-thread blocks with nine __syncthreads each, on
// one OS thread per CUDA thread; the figure of merit is ms per block.
func BenchmarkBlockSum256(b *testing.B) {
	d := newDriver(b)
	const blocks, threads = 8, 256
	x := alloc(b, d, blocks*threads, float32(1))
	y := alloc(b, d, blocks, float32(0))
	f := function(b, d, "sim_block_sum")
	b.ResetTimer()
	for range b.N {
		if err := d.Launch(f, dim1(blocks), dim1(threads), 0, packed(b, []any{y, x})); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/blocks, "ms/block")
}

// BenchmarkWarpShuffles256: one 256-thread block doing eight warp
// collectives per thread.
func BenchmarkWarpShuffles256(b *testing.B) {
	d := newDriver(b)
	const n = 256
	o64 := alloc(b, d, n, int64(0))
	od := alloc(b, d, n, float64(0))
	of := alloc(b, d, n, float32(0))
	sums := alloc(b, d, n, int32(0))
	f := function(b, d, "sim_shfl_types")
	b.ResetTimer()
	for range b.N {
		if err := d.Launch(f, dim1(1), dim1(n), 0, packed(b, []any{o64, od, of, sums})); err != nil {
			b.Fatal(err)
		}
	}
}
