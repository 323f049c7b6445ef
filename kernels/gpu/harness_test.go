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
// every kernel must meet (docs/ARCHITECTURE.md, "a CUDA kernel is done only
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

// outAlias is out, except that with alias the device tensor is in itself,
// so that the GPU op runs in place (y = x, dx = dy) against the CPU's
// separate output.
func (p *pair) outAlias(s kernels.Shape, alias bool, in kernels.Tensor) (c, g kernels.Tensor) {
	p.t.Helper()
	c, g = p.out(s)
	if alias {
		g = in
	}
	return c, g
}

// device returns a device tensor holding the values of the CPU tensor c:
// a backward gets the CPU forward's statistics, so its comparison does not
// include the forward's rounding.
func (p *pair) device(c kernels.Tensor) kernels.Tensor {
	p.t.Helper()
	_, g := p.from(c.Shape, c.Host32())
	return g
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

// same downloads g and compares it with c under |g−c| <= atol + rtol·|c|;
// NaN matches nothing unless opts holds testutil.NaNEqual.
func (p *pair) same(what string, c, g kernels.Tensor, rtol, atol float64, opts ...testutil.Option) {
	p.t.Helper()
	v := make([]float32, g.Len())
	p.ok(p.gpu.Download(v, g))
	testutil.AllClose(p.t, what, v, c.Host32(), rtol, atol, opts...)
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

// layerOpts selects the optional tensors of one checkLayer run: the bias,
// dx and db.
type layerOpts struct {
	bias, dx, db bool
}

// layerAll passes every optional tensor.
var layerAll = layerOpts{bias: true, dx: true, db: true}

// layerCase is a layer with a weight and an optional bias (Conv2D, DWConv,
// Linear) for checkLayer: the shapes of x, w and y, the length of b and db,
// and its forward and backward on either backend.
type layerCase struct {
	x, w, y kernels.Shape
	out     int
	fwd     func(k kernels.Backend, y, x, w, bias kernels.Tensor) error
	bwd     func(k kernels.Backend, dx, dw, db, dy, x, w kernels.Tensor) error
}

// newLayerCase returns the layerCase of the op pair fwd, bwd (method
// expressions such as kernels.Backend.Conv2D) at shape s.
func newLayerCase[S any](s S, x, w, y kernels.Shape, out int,
	fwd func(k kernels.Backend, y, x, w, bias kernels.Tensor, s S) error,
	bwd func(k kernels.Backend, dx, dw, db, dy, x, w kernels.Tensor, s S) error,
) layerCase {
	return layerCase{x: x, w: w, y: y, out: out,
		fwd: func(k kernels.Backend, y, x, w, bias kernels.Tensor) error { return fwd(k, y, x, w, bias, s) },
		bwd: func(k kernels.Backend, dx, dw, db, dy, x, w kernels.Tensor) error {
			return bwd(k, dx, dw, db, dy, x, w, s)
		},
	}
}

// checkLayer runs the forward and backward of l on both backends and
// compares y, dx, dw and db (y and dx under rtol = atol = 1e-5, dw and db
// 1e-4); dw and db start from the same non-zero values on both, so a
// kernel that overwrites instead of accumulating fails.
func checkLayer(t *testing.T, seed uint64, l layerCase, o layerOpts) {
	t.Helper()
	p := newPair(t, seed)
	xc, xg := p.in(l.x, 1)
	wc, wg := p.in(l.w, 1)
	var bc, bg kernels.Tensor
	if o.bias {
		bc, bg = p.in(kernels.Shape{l.out}, 1)
	}
	yc, yg := p.out(l.y)
	p.ok(l.fwd(p.cpu, yc, xc, wc, bc))
	p.ok(l.fwd(p.gpu, yg, xg, wg, bg))
	p.same("y", yc, yg, 1e-5, 1e-5)

	dyc, dyg := p.in(l.y, 1)
	var dxc, dxg, dbc, dbg kernels.Tensor
	if o.dx {
		dxc, dxg = p.out(l.x)
	}
	dwc, dwg := p.acc(l.w)
	if o.db {
		dbc, dbg = p.acc(kernels.Shape{l.out})
	}
	p.ok(l.bwd(p.cpu, dxc, dwc, dbc, dyc, xc, wc))
	p.ok(l.bwd(p.gpu, dxg, dwg, dbg, dyg, xg, wg))
	if o.dx {
		p.same("dx", dxc, dxg, 1e-5, 1e-5)
	}
	p.same("dw", dwc, dwg, 1e-4, 1e-4)
	if o.db {
		p.same("db", dbc, dbg, 1e-4, 1e-4)
	}
}
