package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// The simulator runs about 90 million multiply-accumulates a second of
// sync-free kernels (or of its float64 SGEMM), and a block that
// synchronises costs it 2 to 4 ms on two cores; benchmark sizes whose
// estimate exceeds convSimSeconds are skipped there.
const (
	simMACsPerSecond   = 90e6
	simSecondsPerBlock = 4e-3
	convSimSeconds     = 3
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

// convBench is a CUDA backend for a benchmark, closed when it ends.
type convBench struct {
	b   *testing.B
	g   *Backend
	rng interface{ Float64() float64 }
}

func newConvBench(b *testing.B) *convBench {
	b.Helper()
	drv, err := newTestDriver()
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(drv)
	if err != nil {
		drv.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		g.Close()
		drv.Close()
	})
	return &convBench{b: b, g: g, rng: testutil.NewRand(1)}
}

// real reports whether the benchmark runs on a GPU.
func (c *convBench) real() bool { return c.g.Driver().Name() == "cuda" }

// skipLarge skips the benchmark on the simulator when one call would take
// more than convSimSeconds there, estimated from its multiply-accumulates
// and the number of blocks of its kernels that synchronise.
func (c *convBench) skipLarge(macs int64, barrierBlocks int) {
	if est := float64(macs)/simMACsPerSecond + float64(barrierBlocks)*simSecondsPerBlock; !c.real() && est > convSimSeconds {
		c.b.Skipf("about %.0f s per call on the simulator; run on a GPU", est)
	}
}

// tensor returns a device tensor of shape s holding values in [−1, 1).
func (c *convBench) tensor(s kernels.Shape) kernels.Tensor {
	t, err := c.g.Alloc(s)
	if err != nil {
		c.b.Fatal(err)
	}
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32(2*c.rng.Float64() - 1)
	}
	if err := c.g.Upload(t, v); err != nil {
		c.b.Fatal(err)
	}
	return t
}

// run times op with a Sync per iteration and reports bytes (as MB/s) and
// GFLOP/s from the bytes moved and FLOPs of one call.
func (c *convBench) run(bytes, flops int64, op func() error) {
	if err := op(); err != nil { // warm-up: pool allocations, module load
		c.b.Fatal(err)
	}
	if err := c.g.Sync(); err != nil {
		c.b.Fatal(err)
	}
	c.b.SetBytes(bytes)
	c.b.ResetTimer()
	for range c.b.N {
		if err := op(); err != nil {
			c.b.Fatal(err)
		}
		if err := c.g.Sync(); err != nil {
			c.b.Fatal(err)
		}
	}
	c.b.ReportMetric(float64(flops)*float64(c.b.N)/c.b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkDWConv times the 7×7 depthwise forward at the ConvNeXt
// V2-Atto stages. Bytes: x and y once each, plus the weights and bias.
func BenchmarkDWConv(b *testing.B) {
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		b.Run(st.String(), func(b *testing.B) {
			c := newConvBench(b)
			c.skipLarge(s.MACs(), 0)
			x, w, bias, y := c.tensor(s.XShape()), c.tensor(s.WShape()), c.tensor(kernels.Shape{s.C}), c.tensor(s.YShape())
			bytes := 4 * int64(x.Len()+y.Len()+w.Len()+bias.Len())
			c.run(bytes, 2*s.MACs(), func() error { return c.g.DWConv(y, x, w, bias, s) })
		})
	}
}

// BenchmarkDWConvBackward times the 7×7 depthwise backward (dx, dw and db)
// at the ConvNeXt V2-Atto stages. Bytes: dy and x read, dx written, once
// each; FLOPs: two passes of the forward's.
func BenchmarkDWConvBackward(b *testing.B) {
	for _, st := range attoStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		b.Run(st.String(), func(b *testing.B) {
			c := newConvBench(b)
			c.skipLarge(2*s.MACs(), dwBarrierBlocks(s))
			x, w, dy := c.tensor(s.XShape()), c.tensor(s.WShape()), c.tensor(s.YShape())
			dx, dw, db := c.tensor(s.XShape()), c.tensor(s.WShape()), c.tensor(kernels.Shape{s.C})
			bytes := 4 * int64(x.Len()+dy.Len()+dx.Len())
			c.run(bytes, 4*s.MACs(), func() error { return c.g.DWConvBackward(dx, dw, db, dy, x, w, s) })
		})
	}
}

// dwBarrierBlocks estimates how many blocks of DWConvBackward at K = 7
// synchronise: the weight-gradient blocks, and the second column sum when
// there are over 32 chunks.
func dwBarrierBlocks(s kernels.DWConvShape) int {
	const taps = 7*7 + 1
	nct := blocks(s.C, min(256, dwSmemFloats/taps))
	ct := blocks(s.C, nct)
	ty := max(1, min(256/ct, dwSmemFloats/(taps*ct)))
	chunks := blocks(s.N*blocks(s.OutH(), dwTile)*blocks(s.OutW(), dwTile), ty)
	n := chunks * nct
	if chunks > 32 {
		n += blocks(s.C*taps, columnSumWidth)
	}
	return n
}
