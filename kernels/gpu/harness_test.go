package gpu

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// pair runs the same op on the CPU reference and on the CUDA backend over the
// simulator, with identical inputs, and compares the results: the contract
// every kernel must meet (ARCHITECTURE.md, "a CUDA kernel is done only
// with ... a test against the CPU reference on the simulator").
type pair struct {
	t   *testing.T
	cpu *cpu.Backend
	gpu *Backend
	drv cuda.Driver
	rng interface{ Float64() float64 }
}

// newPair starts the test driver (the simulator, or the GPU under -tags
// cuda) and a CUDA backend on it, closed when
// the test ends. SyncEach is on so a faulting kernel is named.
func newPair(t *testing.T, seed uint64) *pair {
	t.Helper()
	drv, err := newTestDriver()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(drv)
	if err != nil {
		drv.Close()
		t.Fatal(err)
	}
	g.SyncEach = true
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("closing the backend: %v", err)
		}
		if err := drv.Close(); err != nil {
			t.Errorf("closing the simulator: %v", err)
		}
	})
	return &pair{t: t, cpu: cpu.New(), gpu: g, drv: drv, rng: testutil.NewRand(seed)}
}

// in returns the same tensor of uniform values in [−scale, scale) on both
// backends.
func (p *pair) in(s kernels.Shape, scale float64) (c, g kernels.Tensor) {
	p.t.Helper()
	v := make([]float32, s.Len())
	for i := range v {
		v[i] = float32((2*p.rng.Float64() - 1) * scale)
	}
	return p.from(s, v)
}

// from returns tensors holding v on both backends.
func (p *pair) from(s kernels.Shape, v []float32) (c, g kernels.Tensor) {
	p.t.Helper()
	c, err := p.cpu.Alloc(s)
	if err != nil {
		p.t.Fatal(err)
	}
	copy(c.Host32(), v)
	g, err = p.gpu.Alloc(s)
	if err == nil {
		err = p.gpu.Upload(g, v)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return c, g
}

// out returns an output tensor on both backends; the device one is filled
// with NaN, so an element the kernel forgets to write fails the comparison.
func (p *pair) out(s kernels.Shape) (c, g kernels.Tensor) {
	p.t.Helper()
	nan := make([]float32, s.Len())
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	c, g = p.from(s, nan)
	clear(c.Host32())
	return c, g
}

// acc returns a gradient accumulator on both backends starting at the same
// random values, so a kernel that overwrites instead of adding fails.
func (p *pair) acc(s kernels.Shape) (c, g kernels.Tensor) { return p.in(s, 1) }

// ok stops the test on err.
func (p *pair) ok(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

// same downloads g and compares it with c under |g−c| <= atol + rtol·|c|.
func (p *pair) same(what string, c, g kernels.Tensor, rtol, atol float64) {
	p.t.Helper()
	v := make([]float32, g.Len())
	p.ok(p.gpu.Download(v, g))
	testutil.AllClose(p.t, what, v, c.Host32(), rtol, atol)
}
