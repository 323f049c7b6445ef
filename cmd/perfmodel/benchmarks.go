package main

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
)

// benchCase is one sub-benchmark of kernels/gpu's *_bench_test.go, which
// scripts/gpu/run.sh runs on the GPU (its "kernel times" step): the backend
// op it times and the bytes per call it reports through b.SetBytes (its
// MB/s column).
type benchCase struct {
	Name       string // as go test prints it, without the -GOMAXPROCS suffix
	BenchBytes int64
	Shapes     []kernels.Shape                                 // tensors allocated before the op (not recorded)
	Op         func(be *gpu.Backend, t []kernels.Tensor) error // the timed call
}

// benchRow is a benchCase's floor under this model.
type benchRow struct {
	benchCase
	Launches  int
	Bytes     int64
	T32, TF32 float64
}

// attoStage is one ConvNeXt V2-Atto stage at batch 32 as the benchmarks
// use them (kernels/gpu/dwconv_bench_test.go attoStages, without the
// batch-1 case that exists for the simulator).
type attoStage struct{ N, H, C int }

func (a attoStage) String() string { return fmt.Sprintf("N%d_%dx%dx%d", a.N, a.H, a.H, a.C) }

var benchStages = []attoStage{{32, 56, 40}, {32, 28, 80}, {32, 14, 160}, {32, 7, 320}}

// attoParams is the parameter count the optimizer benchmarks use
// (kernels/gpu/elementwise_bench_test.go).
const attoParams = 3708400

// benchCases lists the benchmarks of the kernels of a training step, with
// the shapes and byte counts of kernels/gpu's benchmark files.
func benchCases() []benchCase {
	var cs []benchCase
	add := func(name string, bytes int64, shapes []kernels.Shape, op func(be *gpu.Backend, t []kernels.Tensor) error) {
		cs = append(cs, benchCase{Name: name, BenchBytes: bytes, Shapes: shapes, Op: op})
	}
	for _, st := range benchStages {
		s := kernels.DWConvShape{N: st.N, H: st.H, W: st.H, C: st.C, K: 7, Stride: 1}
		x, y, w := int64(s.XShape().Len()), int64(s.YShape().Len()), int64(s.WShape().Len())
		add("BenchmarkDWConv/"+st.String(), 4*(x+y+w+int64(s.C)), sh(s.YShape(), s.XShape(), s.WShape(), kernels.Shape{s.C}), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.DWConv(t[0], t[1], t[2], t[3], s)
		})
		add("BenchmarkDWConvBackward/"+st.String(), 4*(2*x+y), sh(s.XShape(), s.WShape(), kernels.Shape{s.C}, s.YShape(), s.XShape(), s.WShape()), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.DWConvBackward(t[0], t[1], t[2], t[3], t[4], t[5], s)
		})
	}
	for _, st := range benchStages {
		s := kernels.NormShape{Rows: st.N * st.H * st.H, C: st.C, Eps: 1e-6}
		rc, c, r := kernels.Shape{s.Rows, s.C}, kernels.Shape{s.C}, kernels.Shape{s.Rows}
		n := int64(s.Rows) * int64(s.C)
		add("BenchmarkLayerNorm/"+st.String(), 8*n+8*int64(s.Rows), sh(rc, r, r, rc, c, c), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.LayerNorm(t[0], t[1], t[2], t[3], t[4], t[5], s)
		})
		add("BenchmarkLayerNormBackward/"+st.String(), 12*n+8*int64(s.Rows), sh(rc, c, c, rc, rc, r, r, c), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.LayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], s)
		})
	}
	for _, st := range benchStages {
		rows := st.N * st.H * st.H
		for _, s := range []kernels.LinearShape{{Rows: rows, In: st.C, Out: 4 * st.C}, {Rows: rows, In: 4 * st.C, Out: st.C}} {
			sub := fmt.Sprintf("%dx%d_to_%d", s.Rows, s.In, s.Out)
			x, y, w := kernels.Shape{s.Rows, s.In}, kernels.Shape{s.Rows, s.Out}, kernels.Shape{s.Out, s.In}
			add("BenchmarkLinear/"+sub, 4*int64(x.Len()+y.Len()+w.Len()), sh(y, x, w, kernels.Shape{s.Out}), func(be *gpu.Backend, t []kernels.Tensor) error {
				return be.Linear(t[0], t[1], t[2], t[3], s)
			})
			add("BenchmarkLinearBackward/"+sub, 4*int64(2*y.Len()+2*x.Len()), sh(x, w, kernels.Shape{s.Out}, y, x, w), func(be *gpu.Backend, t []kernels.Tensor) error {
				return be.LinearBackward(t[0], t[1], t[2], t[3], t[4], t[5], s)
			})
		}
	}
	for _, st := range benchStages {
		s := kernels.Shape{st.N, st.H * st.H, 4 * st.C}
		n := int64(s.Len())
		add(fmt.Sprintf("BenchmarkGELU/erf_%v", st), 8*n, sh(s, s), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.GELU(t[0], t[1], kernels.GELUErf)
		})
		add(fmt.Sprintf("BenchmarkGELUBackward/erf_%v", st), 12*n, sh(s, s, s), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.GELUBackward(t[0], t[1], t[2], kernels.GELUErf)
		})
	}
	for _, st := range benchStages {
		g := kernels.GRNShape{N: st.N, HW: st.H * st.H, C: 4 * st.C, Eps: 1e-6}
		xs, c, nc := kernels.Shape{g.N, g.HW, g.C}, kernels.Shape{g.C}, kernels.Shape{g.N, g.C}
		n := int64(xs.Len())
		add("BenchmarkGRN/"+st.String(), 12*n, sh(xs, nc, xs, c, c), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.GRN(t[0], t[1], t[2], t[3], t[4], g)
		})
		add("BenchmarkGRNBackward/"+st.String(), 20*n, sh(xs, c, c, xs, xs, nc, c), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.GRNBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], g)
		})
	}
	convs := []kernels.ConvShape{
		{N: 32, H: 224, W: 224, CIn: 3, COut: 40, K: 4, Stride: 4},
		{N: 32, H: 56, W: 56, CIn: 40, COut: 80, K: 2, Stride: 2},
		{N: 32, H: 28, W: 28, CIn: 80, COut: 160, K: 2, Stride: 2},
		{N: 32, H: 14, W: 14, CIn: 160, COut: 320, K: 2, Stride: 2},
	}
	for i, s := range convs {
		sub := fmt.Sprintf("N%d_%dx%dx%d_to_%d_K%d", s.N, s.H, s.W, s.CIn, s.COut, s.K)
		x, y, w := int64(s.XShape().Len()), int64(s.YShape().Len()), int64(s.WShape().Len())
		cols := int64(s.N) * int64(s.OutH()*s.OutW()*s.CIn*s.K*s.K)
		add("BenchmarkConv2D/"+sub, 4*(x+y+w+2*cols), sh(s.YShape(), s.XShape(), s.WShape(), kernels.Shape{s.COut}), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.Conv2D(t[0], t[1], t[2], t[3], s)
		})
		dx := x
		if i == 0 {
			dx = 0 // the stem has no input gradient
		}
		add("BenchmarkConv2DBackward/"+sub, 4*(x+y+dx+4*cols), sh(s.XShape(), s.WShape(), kernels.Shape{s.COut}, s.YShape(), s.XShape(), s.WShape()), func(be *gpu.Backend, t []kernels.Tensor) error {
			if i == 0 {
				t[0] = kernels.Tensor{}
			}
			return be.Conv2DBackward(t[0], t[1], t[2], t[3], t[4], t[5], s)
		})
	}
	for _, s := range []kernels.Shape{
		{32, 56, 56, 40}, {32, 28, 28, 80}, {32, 14, 14, 160}, {32, 7, 7, 320},
		{32, 56, 56, 160}, {32, 28, 28, 320}, {32, 14, 14, 640}, {32, 7, 7, 1280},
	} {
		name := fmt.Sprintf("BenchmarkAdd/[%d_%d_%d_%d]", s[0], s[1], s[2], s[3])
		add(name, 12*int64(s.Len()), sh(s, s), func(be *gpu.Backend, t []kernels.Tensor) error {
			return be.Add(t[0], t[0], t[1])
		})
	}
	arena := kernels.Shape{attoParams}
	for _, k := range []int{3, 200} {
		add(fmt.Sprintf("BenchmarkAdamW/atto/%dgroups", k), 28*attoParams, sh(arena, arena, arena, arena), func(be *gpu.Backend, t []kernels.Tensor) error {
			groups := make([]kernels.AdamWGroup, k)
			for i := range groups {
				lo, hi := i*attoParams/k, (i+1)*attoParams/k
				groups[i] = kernels.AdamWGroup{Offset: lo, Len: hi - lo, LR: 1e-3 / float64(i+1), WeightDecay: 0.05 * float64(i%2)}
			}
			return be.AdamW(t[0], t[1], t[2], t[3], groups, kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1})
		})
	}
	return cs
}

// sh lists the shapes of a benchmark's tensors.
func sh(shapes ...kernels.Shape) []kernels.Shape { return shapes }

// alloc returns device tensors of the given shapes.
func alloc(be *gpu.Backend, shapes ...kernels.Shape) ([]kernels.Tensor, error) {
	ts := make([]kernels.Tensor, len(shapes))
	for i, s := range shapes {
		t, err := be.Alloc(s)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

// benchFloors runs every benchmark case once on the CUDA backend over a
// recorder and returns the launches, model bytes and roofline floor of
// one call.
func benchFloors() ([]benchRow, error) {
	rec := newRecorder()
	be, err := gpu.New(rec)
	if err != nil {
		return nil, err
	}
	defer be.Close()
	var rows []benchRow
	for _, c := range benchCases() {
		t, err := alloc(be, c.Shapes...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		rec.launches, rec.on = nil, true
		err = c.Op(be, t)
		rec.on = false
		for _, x := range t {
			be.Free(x)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		r := benchRow{benchCase: c, Launches: len(rec.launches)}
		for _, l := range rec.launches {
			k, err := costOf(l, rec.uploads)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			r.Bytes += k.Bytes
			r.T32 += h100.roofline(k, false)
			r.TF32 += h100.roofline(k, true)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
