package gpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// poolShapes: HW = 1, odd channel counts, a sample count of 1, and the Atto
// head scaled down in batch (7×7 × 320).
var poolShapes = []kernels.PoolShape{{N: 3, HW: 1, C: 37}, {N: 1, HW: 35, C: 161}, {N: 2, HW: 49, C: 320}, {N: 5, HW: 3, C: 1}}

func TestAvgPoolMatchesCPU(t *testing.T) {
	p := newPair(t, 20)
	for _, s := range poolShapes {
		xc, xg := p.in(kernels.Shape{s.N, s.HW, s.C}, 2)
		yc, yg := p.out(kernels.Shape{s.N, s.C})
		p.ok(p.cpu.AvgPool(yc, xc, s))
		p.ok(p.gpu.AvgPool(yg, xg, s))
		p.same(fmt.Sprintf("avgpool %+v", s), yc, yg, 1e-6, 0)
	}
}

func TestAvgPoolBackwardMatchesCPU(t *testing.T) {
	p := newPair(t, 21)
	for _, s := range poolShapes {
		dyc, dyg := p.in(kernels.Shape{s.N, s.C}, 2)
		dxc, dxg := p.out(kernels.Shape{s.N, s.HW, s.C})
		p.ok(p.cpu.AvgPoolBackward(dxc, dyc, s))
		p.ok(p.gpu.AvgPoolBackward(dxg, dyg, s))
		p.same(fmt.Sprintf("avgpool backward %+v", s), dxc, dxg, 1e-6, 0)
	}
}

func TestAvgPoolErrors(t *testing.T) {
	p := newPair(t, 22)
	s := kernels.PoolShape{N: 2, HW: 3, C: 5}
	_, x := p.in(kernels.Shape{2, 3, 5}, 1)
	_, y := p.out(kernels.Shape{2, 5})
	_, short := p.out(kernels.Shape{9})
	hostY, _ := p.cpu.Alloc(kernels.Shape{2, 5})
	wantErrors(t, []errCase{
		{"zero HW", p.gpu.AvgPool(y, x, kernels.PoolShape{N: 2, HW: 0, C: 5}), kernels.ErrShape},
		{"short y", p.gpu.AvgPool(short, x, s), kernels.ErrShape},
		{"x for another shape", p.gpu.AvgPool(y, x, kernels.PoolShape{N: 2, HW: 5, C: 3}), kernels.ErrShape},
		{"host y", p.gpu.AvgPool(hostY, x, s), kernels.ErrDType},
		{"backward negative C", p.gpu.AvgPoolBackward(x, y, kernels.PoolShape{N: 2, HW: 3, C: -5}), kernels.ErrShape},
		{"backward short dy", p.gpu.AvgPoolBackward(x, short, s), kernels.ErrShape},
		{"backward host dy", p.gpu.AvgPoolBackward(x, hostY, s), kernels.ErrDType},
	})
}
