package gpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Launch constants of kernels/src/fakequant.cu.
const (
	fqThreads   = 256  // FQ_THREADS: block size of the 1-D kernels
	fqRows      = 8    // FQ_ROWS: blockDim.y of the column kernels
	fqMaxBlocks = 4096 // grid cap of the grid-stride elementwise kernels
	fqRunElems  = 4096 // elements per block of a "runs" partial pass (16 per thread)
	fqMaxParts  = 1024 // most chunks per channel in a "runs" partial pass
	fqColRows   = 64   // rows per block of a "columns" partial pass, at least
	fqMaxColP   = 256  // most row chunks of a "columns" partial pass
	fqMaxGridY  = 65535
)

// FakeQuant computes y = fake_quant(x) per channel with PyTorch's float32
// arithmetic (fakequant_fwd_f32; see kernels.QuantOps); y may alias x. It
// returns an error wrapping kernels.ErrShape for an invalid s or a missing
// or mis-shaped tensor, kernels.ErrDType for a tensor that is not this
// backend's device memory. Scale values are not checked (that would need a
// sync): a zero or NaN scale gives zeros and NaN.
func (b *Backend) FakeQuant(y, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape) error {
	const op = "gpu fakequant"
	if err := checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()}, kernels.Arg{Name: "y", T: y, Want: s.XShape()},
		kernels.Arg{Name: "scale", T: scale, Want: s.CShape()}, kernels.Arg{Name: "zeroPoint", T: zeroPoint, Want: s.CShape()}); err != nil {
		return err
	}
	n := s.Len()
	return b.launch("fakequant_fwd_f32", fqGrid(n), dim1(fqThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).
		Ptr(ptr(scale)).Ptr(ptr(zeroPoint)).Int32(int32(n)).Int32(int32(s.Channels)).Int32(int32(s.Inner)).
		Float32(float32(s.QMin)).Float32(float32(s.QMax)).Float32(float32(s.MinScale)))
}

// FakeQuantBackward overwrites dx = dy·mask (fakequant_bwd_f32) and, when
// dscale or dzeroPoint is given, accumulates the LSQ gradients scaled by
// gradFactor (a partial pass, fakequant_lsq_runs_f32 or
// fakequant_lsq_cols_f32 by layout, then fakequant_lsq_reduce_f32: no
// atomics, deterministic). dx, dscale and dzeroPoint are optional; dx may
// alias dy. Errors as for FakeQuant, plus kernels.ErrShape for a gradFactor
// that is not finite.
func (b *Backend) FakeQuantBackward(dx, dscale, dzeroPoint, dy, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape, gradFactor float64) error {
	const op = "gpu fakequant backward"
	if err := checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()}, kernels.Arg{Name: "dy", T: dy, Want: s.XShape()},
		kernels.Arg{Name: "dx", T: dx, Want: s.XShape(), Optional: true},
		kernels.Arg{Name: "scale", T: scale, Want: s.CShape()}, kernels.Arg{Name: "zeroPoint", T: zeroPoint, Want: s.CShape()},
		kernels.Arg{Name: "dscale", T: dscale, Want: s.CShape(), Optional: true},
		kernels.Arg{Name: "dzeroPoint", T: dzeroPoint, Want: s.CShape(), Optional: true}); err != nil {
		return err
	}
	if math.IsNaN(gradFactor) || math.IsInf(gradFactor, 0) || math.Abs(gradFactor) > math.MaxFloat32 {
		return fmt.Errorf("%s: gradient factor %v is not a finite float32: %w", op, gradFactor, kernels.ErrShape)
	}
	n := s.Len()
	qmin, qmax, floor := float32(s.QMin), float32(s.QMax), float32(s.MinScale)
	if dscale.Nil() && dzeroPoint.Nil() {
		if dx.Nil() {
			return nil
		}
		return b.launch("fakequant_bwd_f32", fqGrid(n), dim1(fqThreads), 0, b.args().Ptr(ptr(dx)).
			Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(scale)).Ptr(ptr(zeroPoint)).Int32(int32(n)).
			Int32(int32(s.Channels)).Int32(int32(s.Inner)).Float32(qmin).Float32(qmax).Float32(floor))
	}
	l, part, free, err := b.fqPartials(op, s)
	if err != nil {
		return err
	}
	defer free()
	name := "fakequant_lsq_cols_f32"
	if l.runs {
		name = "fakequant_lsq_runs_f32"
	}
	if err := b.launch(name, l.grid, l.block(), 0, b.args().Ptr(ptr(dx)).Ptr(part).Ptr(ptr(dy)).Ptr(ptr(x)).
		Ptr(ptr(scale)).Ptr(ptr(zeroPoint)).Int32(int32(s.Outer)).Int32(int32(s.Channels)).
		Int32(int32(s.Inner)).Float32(qmin).Float32(qmax).Float32(floor).Int32(int32(l.chunk))); err != nil {
		return err
	}
	return b.launch("fakequant_lsq_reduce_f32", dim1(s.Channels), dim1(fqThreads), 0, b.args().Ptr(ptr(dscale)).
		Ptr(ptr(dzeroPoint)).Ptr(part).Int32(int32(l.p)).Int32(int32(l.inner)).Int32(int32(l.strideP)).
		Int32(int32(l.strideC)).Int32(int32(l.half)).Float32(float32(gradFactor)))
}

// MinMax overwrites min and max [Channels] with each channel's smallest and
// largest element of x, NaN propagating (a partial pass, minmax_runs_f32 or
// minmax_cols_f32, then minmax_reduce_f32). The results stay on the device.
// Errors as for FakeQuant.
func (b *Backend) MinMax(min, max, x kernels.Tensor, s kernels.QuantShape) error {
	const op = "gpu minmax"
	if err := checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()},
		kernels.Arg{Name: "min", T: min, Want: s.CShape()}, kernels.Arg{Name: "max", T: max, Want: s.CShape()}); err != nil {
		return err
	}
	l, part, free, err := b.fqPartials(op, s)
	if err != nil {
		return err
	}
	defer free()
	if l.runs {
		err = b.launch("minmax_runs_f32", l.grid, l.block(), 0, b.args().Ptr(part).Ptr(ptr(x)).
			Int32(int32(s.Outer)).Int32(int32(s.Channels)).Int32(int32(s.Inner)).Int32(int32(l.chunk)))
	} else {
		err = b.launch("minmax_cols_f32", l.grid, l.block(), 0, b.args().Ptr(part).Ptr(ptr(x)).
			Int32(int32(s.Outer)).Int32(int32(s.Channels*s.Inner)).Int32(int32(l.chunk)))
	}
	if err != nil {
		return err
	}
	return b.launch("minmax_reduce_f32", dim1(s.Channels), dim1(fqThreads), 0, b.args().Ptr(ptr(min)).
		Ptr(ptr(max)).Ptr(part).Int32(int32(l.p)).Int32(int32(l.inner)).Int32(int32(l.strideP)).
		Int32(int32(l.strideC)).Int32(int32(l.half)))
}

// checkQuant validates s, the tensors, and the limits of the kernels'
// 32-bit indexing and grid.
func checkQuant(op string, s kernels.QuantShape, args ...kernels.Arg) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, args...); err != nil {
		return err
	}
	if n := s.Len(); n > math.MaxInt32/2 {
		return fmt.Errorf("%s: %d elements exceed the kernels' 32-bit indexing (%d): %w", op, n, math.MaxInt32/2, kernels.ErrShape)
	}
	if s.Channels > fqMaxGridY {
		return fmt.Errorf("%s: %d channels exceed the grid limit %d: %w", op, s.Channels, fqMaxGridY, kernels.ErrShape)
	}
	return nil
}

// fqGrid is the grid of the grid-stride elementwise kernels.
func fqGrid(n int) cuda.Dim3 { return dim1(max(1, min(blocks(n, fqThreads), fqMaxBlocks))) }

// fqLayout is the geometry of a two-pass per-channel reduction (see the
// file comment of fakequant.cu).
type fqLayout struct {
	runs    bool      // "runs" layout (else "columns")
	grid    cuda.Dim3 // of the partial pass
	chunk   int       // elements (runs) or rows (columns) per block
	p       int       // chunks per channel
	parts   int       // floats of the partials buffer (two halves)
	inner   int       // terms per chunk and channel in the reduce pass
	strideP int       // partials index stride between chunks
	strideC int       // ... between channels
	half    int       // offset of the second half
}

// fqLayoutOf picks the layout: "runs" when each channel's elements come in
// runs of at least a warp (inner ≥ 32) or there is one channel, "columns"
// for narrow interleaved channels (NHWC per-channel activations).
func fqLayoutOf(s kernels.QuantShape) fqLayout {
	C := s.Channels
	if s.Inner >= 32 || C == 1 {
		m := s.Outer * s.Inner
		p := min(blocks(m, fqRunElems), fqMaxParts)
		chunk := blocks(m, p)
		p = blocks(m, chunk)
		return fqLayout{runs: true, grid: cuda.Dim3{X: p, Y: C, Z: 1}, chunk: chunk, p: p, parts: 2 * C * p,
			inner: 1, strideP: 1, strideC: p, half: C * p}
	}
	L := C * s.Inner
	p := max(1, min(s.Outer/fqColRows, fqMaxColP))
	chunk := blocks(s.Outer, p)
	p = blocks(s.Outer, chunk)
	return fqLayout{grid: cuda.Dim3{X: blocks(L, 32), Y: p, Z: 1}, chunk: chunk, p: p, parts: 2 * p * L,
		inner: s.Inner, strideP: L, strideC: s.Inner, half: p * L}
}

// block is the block of the partial pass: fqThreads threads along a run,
// or 32 columns × fqRows rows.
func (l fqLayout) block() cuda.Dim3 {
	if l.runs {
		return dim1(fqThreads)
	}
	return cuda.Dim3{X: 32, Y: fqRows, Z: 1}
}

// fqPartials returns the layout of s and a scratch buffer (b.scratch) for
// the partials of its two-pass reduction, which free gives back.
func (b *Backend) fqPartials(op string, s kernels.QuantShape) (l fqLayout, part cuda.DevicePtr, free func(), err error) {
	l = fqLayoutOf(s)
	bytes := 4 * l.parts
	if part, err = b.scratch(op, bytes); err != nil {
		return l, 0, nil, err
	}
	return l, part, func() { b.pool.put(part, bytes) }, nil
}
