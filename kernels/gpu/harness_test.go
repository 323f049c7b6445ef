package gpu

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

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
	rng *rand.Rand
}

// openBackend starts the test driver (the simulator, or the GPU under
// -tags cuda; see newTestDriver) and a CUDA backend on it, both closed when
// the test or benchmark ends.
func openBackend(tb testing.TB) *Backend {
	tb.Helper()
	drv, err := newTestDriver()
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(drv)
	if err != nil {
		drv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := g.Close(); err != nil {
			tb.Errorf("closing the backend: %v", err)
		}
		if err := drv.Close(); err != nil {
			tb.Errorf("closing the driver: %v", err)
		}
	})
	return g
}

// newPair opens a CUDA backend (openBackend) with SyncEach on, so a
// faulting kernel is named, next to a CPU backend, and a generator seeded
// with seed for the inputs.
func newPair(t *testing.T, seed uint64) *pair {
	t.Helper()
	g := openBackend(t)
	g.SyncEach = true
	return &pair{t: t, cpu: cpu.New(), gpu: g, rng: testutil.NewRand(seed)}
}

// randVals returns n values drawn uniformly from [−scale, scale) by the
// pair's generator.
func (p *pair) randVals(n int, scale float64) []float32 { return testutil.Rand(p.rng, n, scale) }

// in returns the same tensor of uniform values in [−scale, scale) on both
// backends.
func (p *pair) in(s kernels.Shape, scale float64) (c, g kernels.Tensor) {
	p.t.Helper()
	return p.from(s, p.randVals(s.Len(), scale))
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

// errCase is one bad call of an error test: the error it returned and the
// sentinel (kernels.ErrShape, ErrDType, ...) it must wrap.
type errCase struct {
	name      string
	err, want error
}

// wantErrors checks that every case's error wraps its sentinel.
func wantErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want an error wrapping %v", c.name, c.err, c.want)
		}
	}
}
