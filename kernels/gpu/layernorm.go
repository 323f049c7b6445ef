package gpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// LayerNorm normalizes each row of x [Rows, C] over its C values,
// y = (x − mean)·rstd·w + b with rstd = 1/sqrt(var + Eps) and the biased
// variance (PyTorch F.layer_norm; ConvNeXt's channels_first LayerNorm on
// NHWC, docs/CONVNEXTV2.md §1.6), and writes the per-row mean and rstd [Rows]
// for LayerNormBackward. w and b are [C]; y may alias x. x and y may both
// be bf16 activations (layernorm_fwd_bf16: float32 statistics and
// arithmetic, y rounded once). The kernel
// (layernorm_fwd_f32, kernels/src/layernorm.cu) gives each row to one warp
// and computes the statistics in float32 in two passes over the row, so
// results agree with the CPU backend's float64 statistics to about 1e-6
// relative. It returns an error wrapping kernels.ErrShape for an invalid s
// or a missing or mis-sized tensor, kernels.ErrDType for a tensor that is
// not device memory of this backend, or the driver's launch error.
func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape) error {
	const op = "gpu layernorm"
	dt, err := lnCheck(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false)
	if err != nil {
		return err
	}
	return b.lnForward(kernelFor("layernorm_fwd", dt), y, mean, rstd, x, w, bias, s, -1)
}

// LayerNormBackward overwrites dx [Rows, C] and accumulates dw and db [C]
// from dy [Rows, C], using the forward's x, mean and rstd [Rows] and the
// weight w [C]. With x̂ = (x − mean)·rstd and g = dy·w (per row):
//
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)),  dw += Σ_rows dy·x̂,  db += Σ_rows dy
//
// (PyTorch's layer_norm_backward). dx may alias dy. The parameter
// gradients are summed deterministically: per-warp and per-block partial
// sums in a fixed order (layernorm_bwd_f32), then a reduction kernel over
// the blocks' partial rows (layernorm_bwd_reduce_f32); no float atomics.
// Errors as for LayerNorm, plus the driver's allocation error for the
// partial sums.
func (b *Backend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.NormShape) error {
	const op = "gpu layernorm backward"
	dt, err := lnCheck(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true,
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}})
	if err != nil {
		return err
	}
	return b.lnBackward(kernelFor("layernorm_bwd", dt), dx, dw, db, dy, x, mean, rstd, w, kernels.Tensor{}, s, -1)
}

// lnWarps is the number of warps (rows in flight) per block of the
// LayerNorm kernels: 256-thread blocks.
const lnWarps = 8

// lnSmemBytes is the dynamic shared memory the LayerNorm backward may use
// for its per-warp slabs of parameter-gradient sums (the 48 KB every GPU
// grants without opting in). A variable so tests can force the global
// scratch path.
var lnSmemBytes = 48 << 10

// lnMaxBlocks caps the backward's grid, and so the number of partial rows
// the reduction reads: 1024 blocks of 256 threads are about one full wave
// on an H100 (132 SMs × 8 resident blocks). A variable so tests can make
// each warp take several rows.
var lnMaxBlocks = 1024

// lnPlan is the launch geometry of layernorm_bwd_f32 for rows × C.
type lnPlan struct {
	warps        int // warps per block
	rowsPerBlock int
	blocks       int // grid size, = partial rows
	smem         int // dynamic shared memory bytes; 0 when slabs are global
	global       bool
}

func planLNBackward(rows, C int) lnPlan {
	p := lnPlan{warps: min(lnWarps, lnSmemBytes/(8*C))}
	if p.warps == 0 {
		// 2·C floats per warp do not fit in shared memory: the slabs go
		// to global scratch, and each warp takes at least 16 rows so that
		// they stay small next to x.
		p.warps, p.global = lnWarps, true
	}
	p.blocks = min(blocks(rows, p.warps), lnMaxBlocks)
	p.rowsPerBlock = blocks(rows, p.blocks)
	if p.global {
		p.rowsPerBlock = max(p.rowsPerBlock, 16*p.warps)
	}
	p.blocks = blocks(rows, p.rowsPerBlock)
	if !p.global {
		p.smem = 8 * C * p.warps
	}
	return p
}

// lnForward launches the LayerNorm forward kernel name: plain when approx
// is −1, else fused with GELU with that approximation code.
func (b *Backend) lnForward(name string, y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, approx int32) error {
	args := b.args().Ptr(ptr(y)).Ptr(ptr(mean)).Ptr(ptr(rstd)).Ptr(ptr(x)).Ptr(ptr(w)).Ptr(ptr(bias)).
		Int32(int32(s.Rows)).Int32(int32(s.C)).Float32(float32(s.Eps))
	if approx >= 0 {
		args.Int32(approx)
	}
	return b.launch(name, dim1(blocks(s.Rows, lnWarps)), dim1(32*lnWarps), 0, args)
}

// lnBackward launches the LayerNorm backward kernel name with approximation
// code approx (−1: plain LayerNorm, bias unused) and the reduction of its
// partial sums into dw and db.
func (b *Backend) lnBackward(name string, dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, approx int32) error {
	p := planLNBackward(s.Rows, s.C)
	part, freePart, err := b.normTemp(p.blocks * 2 * s.C)
	if err != nil {
		return fmt.Errorf("%s partial sums: %w", name, err)
	}
	defer freePart()
	var slabs cuda.DevicePtr
	if p.global {
		var freeSlabs func()
		slabs, freeSlabs, err = b.normTemp(p.blocks * p.warps * 2 * s.C)
		if err != nil {
			return fmt.Errorf("%s slabs: %w", name, err)
		}
		defer freeSlabs()
	}
	args := b.args().Ptr(ptr(dx)).Ptr(part).Ptr(slabs).Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(mean)).Ptr(ptr(rstd)).Ptr(ptr(w))
	if approx >= 0 {
		args.Ptr(ptr(bias))
	}
	args.Int32(int32(s.Rows)).Int32(int32(s.C)).Int32(int32(p.rowsPerBlock))
	if approx >= 0 {
		args.Int32(approx)
	}
	if err := b.launch(name, dim1(p.blocks), dim1(32*p.warps), p.smem, args); err != nil {
		return err
	}
	return b.launch("layernorm_bwd_reduce_f32", dim1(blocks(2*s.C, 32)), cuda.Dim3{X: 32, Y: lnReduceRows(p), Z: 1}, 0, b.args().Ptr(ptr(dw)).
		Ptr(ptr(db)).Ptr(part).Int32(int32(p.blocks)).Int32(int32(s.C)))
}

// lnReduceRows is blockDim.y of layernorm_bwd_reduce_f32: one thread row
// per 16 partial rows, at most 32 (each thread then sums at most 32 of the
// 1024 partial rows).
func lnReduceRows(p lnPlan) int { return min(max(p.blocks/16, 1), 32) }

// lnCheck validates s and the tensors the LayerNorm family shares. In the
// forward (backward false) y and b are checked; in the backward dx, dw, db;
// more are further activations (dy). x, y, dx and more are activations of
// one dtype, which it returns (checkActs); the others float32.
func lnCheck(op string, s kernels.NormShape, y, mean, rstd, x, w, bias, dx, dw, db kernels.Tensor, backward bool, more ...kernels.Arg) (kernels.DType, error) {
	if err := s.Validate(); err != nil {
		return 0, fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := normFitsInt32(op, s, s.Rows*s.C); err != nil {
		return 0, err
	}
	var acts, f32 []kernels.Arg
	for _, a := range kernels.NormArgs(s, y, mean, rstd, x, w, bias, dx, dw, db, backward) {
		if a.Name == "x" || a.Name == "y" || a.Name == "dx" {
			acts = append(acts, a)
		} else {
			f32 = append(f32, a)
		}
	}
	return checkActs(op, append(acts, more...), f32...)
}

// normFitsInt32 rejects tensors of n elements or more than 2³¹ − 1: the
// norm and activation kernels index elements with 32-bit sizes.
func normFitsInt32(op string, s any, n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("%s %+v: %d elements exceed the kernels' 32-bit sizes: %w", op, s, n, kernels.ErrShape)
	}
	return nil
}

// normTemp returns n float32 of uninitialised device scratch and the
// function that returns it to the backend's cache. Launches run in queue
// order, so the scratch may be returned as soon as the last launch that
// reads it is queued.
func (b *Backend) normTemp(n int) (cuda.DevicePtr, func(), error) {
	p, err := b.pool.get(4 * n)
	if err != nil {
		return 0, nil, err
	}
	return p, func() { b.pool.put(p, 4*n) }, nil
}
