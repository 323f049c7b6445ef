package gpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// attoStage is a ConvNeXt V2-Atto stage (224×224 input): batch, side and
// channels of the block activations.
type attoStage struct{ N, H, C int }

// attoStages are the four stages at batch 32, then the last at batch 1,
// which runs on the simulator too.
var attoStages = []attoStage{{32, 56, 40}, {32, 28, 80}, {32, 14, 160}, {32, 7, 320}, {1, 7, 320}}

// HW returns the number of spatial positions.
func (a attoStage) HW() int { return a.H * a.H }

func (a attoStage) String() string { return fmt.Sprintf("N%d_%dx%dx%d", a.N, a.H, a.H, a.C) }

// attoParams is the number of parameters of ConvNeXt V2-Atto (3.7M), the
// size of the gradient arena SumSquares and the optimizers walk.
const attoParams = 3708400

// The simulator runs about 90 million multiply-accumulates a second of
// sync-free kernels (or of its float64 SGEMM), and a block that
// synchronises costs it 2 to 4 ms on two cores; simSeconds estimates one
// call from those rates. The convolution, linear and bias benchmarks skip
// sizes whose estimate exceeds convSimSeconds there.
const (
	simMACsPerSecond   = 90e6
	simSecondsPerBlock = 4e-3
	convSimSeconds     = 3
)

// simSeconds estimates the seconds one call takes on the simulator from its
// multiply-accumulates and the number of blocks of its kernels that
// synchronise.
func simSeconds(macs int64, barrierBlocks int) float64 {
	return float64(macs)/simMACsPerSecond + float64(barrierBlocks)*simSecondsPerBlock
}

// bench is the harness of the CUDA backend's benchmarks: a backend on the
// test driver (the simulator, or the GPU under -tags cuda; see
// newTestDriver), closed when the benchmark ends, and a generator seeded
// with 1 for its inputs.
type bench struct {
	b   *testing.B
	g   *Backend
	rng *rand.Rand
}

// newBench opens the backend of one benchmark (openBackend).
func newBench(b *testing.B) *bench {
	b.Helper()
	return &bench{b: b, g: openBackend(b), rng: testutil.NewRand(1)}
}

// simLimit is the one rule for what the simulator runs: it skips the
// benchmark there when one call's work — in units of what: elements, rows,
// blocks that synchronise, estimated seconds (simSeconds) — exceeds limit,
// which keeps a call to about a second or a few of simulated threads. On a
// GPU every size runs.
func (h *bench) simLimit(work, limit float64, what string) {
	h.b.Helper()
	if h.g.Name() != "cuda" && work > limit {
		h.b.Skipf("simulator: %.3g %s per call exceed its limit of %.3g; run on a GPU", work, what, limit)
	}
}

// rand returns a device tensor of shape s with values drawn uniformly from
// [−scale, scale).
func (h *bench) rand(s kernels.Shape, scale float64) kernels.Tensor {
	h.b.Helper()
	return h.upload(s, testutil.Rand(h.rng, s.Len(), scale))
}

// uniform returns a device tensor of shape s with values drawn uniformly
// from [lo, hi).
func (h *bench) uniform(s kernels.Shape, lo, hi float64) kernels.Tensor {
	h.b.Helper()
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32(lo + (hi-lo)*h.rng.Float64())
	}
	return h.upload(s, v)
}

// upload returns a device tensor of shape s holding v.
func (h *bench) upload(s kernels.Shape, v []float32) kernels.Tensor {
	h.b.Helper()
	t, err := h.g.Alloc(s)
	if err == nil {
		err = h.g.Upload(t, v)
	}
	if err != nil {
		h.b.Fatal(err)
	}
	return t
}

// run times op with a Sync inside every iteration, so that each measures
// the kernels and not the queue, after one untimed warm-up call (module
// load, pool allocations). bytes, the bytes one call moves, gives the MB/s
// column (b.SetBytes).
func (h *bench) run(bytes int64, op func() error) {
	b := h.b
	b.Helper()
	if err := op(); err != nil {
		b.Fatal(err)
	}
	if err := h.g.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bytes)
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		if err := h.g.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	h.eventTime(min(b.N, 50), op)
}

// eventTime reports "gpu-µs/op": the device time of n calls of op queued
// back to back, between two CUDA events, per call. Unlike ns/op it holds no
// synchronisation and, once the queue runs ahead, no launch latency: it is
// the time to hold against kernels/PERFORMANCE.md's floors
// (scripts/gpu/run.sh does). On the simulator it is wall-clock time.
func (h *bench) eventTime(n int, op func() error) {
	b := h.b
	b.Helper()
	drv := h.g.Driver()
	start, err := drv.Record()
	if err != nil {
		b.Fatal(err)
	}
	defer start.Release()
	for range n {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	end, err := drv.Record()
	if err != nil {
		b.Fatal(err)
	}
	defer end.Release()
	ms, err := drv.Elapsed(start, end)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms*1e3/float64(n), "gpu-µs/op")
}

// runGBps is run that also reports the bandwidth in GB/s.
func (h *bench) runGBps(bytes int64, op func() error) {
	h.b.Helper()
	h.run(bytes, op)
	h.rate(bytes, "GB/s")
}

// runGFLOPs is run that also reports GFLOP/s from the FLOPs of one call.
func (h *bench) runGFLOPs(bytes, flops int64, op func() error) {
	h.b.Helper()
	h.run(bytes, op)
	h.rate(flops, "GFLOP/s")
}

// rate reports perCall (bytes or FLOPs of one call) as billions per second
// of the timed loop, in unit.
func (h *bench) rate(perCall int64, unit string) {
	h.b.ReportMetric(float64(perCall)*float64(h.b.N)/h.b.Elapsed().Seconds()/1e9, unit)
}
