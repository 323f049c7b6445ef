package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// grnChunk is the number of HW rows one block of the GRN statistics kernels
// sums: 64 rows keep the chunk sums at 1/64 of the activations while giving
// N·ceil(C/32)·ceil(HW/64) blocks (7,840 at ConvNeXt V2-Atto stage 1,
// batch 32).
const grnChunk = 64

// grnThreads is the block size of the per-sample and elementwise GRN
// kernels.
const grnThreads = 256

// GRN computes Global Response Normalization (ConvNeXt V2, Woo et al. 2023,
// eq. 1–3 as in the official models/utils.py GRN; docs/CONVNEXTV2.md §1.5) over
// x [N, HW, C] (NHWC with the spatial axes flattened):
//
//	g[n,c]  = sqrt(Σ_hw x[n,hw,c]²)           (no eps inside the sqrt)
//	Nx[n,c] = g[n,c] / (mean_c g[n,c] + Eps)
//	y       = gamma·(x·Nx) + beta + x
//
// and writes g to gnorm [N, C] for GRNBackward. gamma and beta are [C]; an
// all-zero sample gives y = beta + x; y may alias x. Three launches
// (kernels/src/grn.cu): chunked sums of squares over HW (grn_sumsq_f32;
// for bf16 x grn_sumsq_bf16, or grn_sumsq_v8_bf16 as grnStats picks), the
// per-sample norms and scales (grn_coef_f32), and the elementwise
// y = x·(1 + gamma·Nx) + beta (grn_apply_f32); sums are float32 in a fixed
// order. It returns an error wrapping kernels.ErrShape for an invalid s, a
// missing or mis-sized tensor or N above 65,535, kernels.ErrDType for host
// tensors, or the driver's error.
func (b *Backend) GRN(y, gnorm, x, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	const op = "gpu grn"
	dt, err := grnCheck(op, s, s.ForwardArgs(y, gnorm, x, gamma, beta)...)
	if err != nil {
		return err
	}
	chunks := blocks(s.HW, grnChunk)
	part, freePart, err := b.normTemp(s.N * chunks * s.C)
	if err != nil {
		return fmt.Errorf("%s: chunk sums: %w", op, err)
	}
	defer freePart()
	coef, freeCoef, err := b.normTemp(s.N * s.C)
	if err != nil {
		return fmt.Errorf("%s: coefficients: %w", op, err)
	}
	defer freeCoef()
	hw, C := int32(s.HW), int32(s.C)
	name, grid, block := grnStats("grn_sumsq", dt, s, chunks, x)
	if err := b.launch(name, grid, block, 0, b.args().Ptr(part).
		Ptr(ptr(x)).Int32(hw).Int32(C).Int32(int32(grnChunk))); err != nil {
		return err
	}
	if err := b.launch("grn_coef_f32", dim1(s.N), dim1(grnThreads), 0, b.args().Ptr(coef).Ptr(ptr(gnorm)).
		Ptr(part).Ptr(ptr(gamma)).Int32(int32(chunks)).Int32(C).Float32(float32(s.Eps))); err != nil {
		return err
	}
	return b.launch(kernelFor("grn_apply", dt), grnApplyGrid(s, dt), dim1(grnThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(coef).Ptr(ptr(beta)).Int32(hw).Int32(C))
}

// grnApplyGrid is the grid of grn_apply and grn_bwd_apply over the HW·C
// elements of each of the N samples: one element a thread, or 8 for the
// bf16 kernels (grn_map8 in kernels/src/grn.cu).
func grnApplyGrid(s kernels.GRNShape, dt kernels.DType) cuda.Dim3 {
	per := 1
	if dt == kernels.BFloat16 {
		per = 8
	}
	return cuda.Dim3{X: blocks(blocks(s.HW*s.C, per), grnThreads), Y: s.N, Z: 1}
}

// GRNBackward overwrites dx [N, HW, C] and accumulates dgamma and dbeta [C]
// from dy [N, HW, C], using the forward's x, gnorm [N, C] and gamma [C].
// Where g[n,c] = 0 the gradient through the norm is taken as 0, as
// PyTorch's torch.norm backward does, so all-zero samples give dx = dy. dx
// may alias dy. With S_c = Σ_hw dy·x, D = mean_c g + Eps (per sample):
//
//	dx[h,c]   = dy[h,c]·(1 + gamma_c·g_c/D) + x[h,c]·(gamma_c·S_c/D − Σ_k gamma_k·S_k·g_k/(C·D²))/g_c
//	dgamma_c += Σ_n S_c·g_c/D,  dbeta_c += Σ_n Σ_hw dy[h,c]
//
// (derivation in kernels/cpu/grn.go). Four launches: chunked sums of dy·x
// and dy over HW (grn_bwd_sums_f32), the per-sample coefficients and
// parameter-gradient shares (grn_bwd_coef_f32), the elementwise dx
// (grn_bwd_apply_f32), and the sums of the shares over samples in sample
// order (grn_bwd_params_f32): deterministic, no atomics. Errors as for GRN.
func (b *Backend) GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	const op = "gpu grn backward"
	dt, err := grnCheck(op, s, s.BackwardArgs(dx, dgamma, dbeta, dy, x, gnorm, gamma)...)
	if err != nil {
		return err
	}
	t, err := b.grnBackwardCoef(op, dt, s, dy, x, gnorm, gamma)
	if err != nil {
		return err
	}
	defer t.free()
	hw, C := int32(s.HW), int32(s.C)
	if err := b.launch(kernelFor("grn_bwd_apply", dt), grnApplyGrid(s, dt), dim1(grnThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(t.coef).Int32(hw).Int32(C)); err != nil {
		return err
	}
	return b.launch("grn_bwd_params_f32", dim1(blocks(s.C, grnThreads)), dim1(grnThreads), 0, b.args().Ptr(ptr(dgamma)).
		Ptr(ptr(dbeta)).Ptr(t.share).Int32(int32(s.N)).Int32(C))
}

// grnBwd is the scratch of a GRN backward after its first two launches,
// one buffer: part, the chunk sums of dy·x and dy [N, chunks, 2C] (spent
// once coef is formed), then coef, the per-sample coefficients [N, 2C],
// and share, the per-sample parameter-gradient shares [N, 2C]; free
// returns it.
type grnBwd struct {
	part, coef, share cuda.DevicePtr
	chunks            int
	free              func()
}

// grnBackwardCoef allocates a GRN backward's scratch and runs the launches
// GRNBackward and GRNGELUBackward share: the chunked sums of dy·x and dy
// over HW (grn_bwd_sums) and the coefficients and shares
// (grn_bwd_coef_f32). x is GRN's input, of dy's dtype dt. Errors name op.
func (b *Backend) grnBackwardCoef(op string, dt kernels.DType, s kernels.GRNShape, dy, x, gnorm, gamma kernels.Tensor) (grnBwd, error) {
	t := grnBwd{chunks: blocks(s.HW, grnChunk)}
	nPart, nCoef := s.N*t.chunks*2*s.C, s.N*2*s.C
	var err error
	if t.part, t.free, err = b.normTemp(nPart + 2*nCoef); err != nil {
		return grnBwd{}, fmt.Errorf("%s: chunk sums, coefficients and shares: %w", op, err)
	}
	t.coef, t.share = t.part+off(nPart), t.part+off(nPart+nCoef)
	hw, C := int32(s.HW), int32(s.C)
	name, grid, block := grnStats("grn_bwd_sums", dt, s, t.chunks, dy, x)
	err = b.launch(name, grid, block, 0, b.args().Ptr(t.part).
		Ptr(ptr(dy)).Ptr(ptr(x)).Int32(hw).Int32(C).Int32(int32(grnChunk)))
	if err == nil {
		err = b.launch("grn_bwd_coef_f32", dim1(s.N), dim1(grnThreads), 0, b.args().Ptr(t.coef).Ptr(t.share).
			Ptr(t.part).Ptr(ptr(gnorm)).Ptr(ptr(gamma)).Int32(int32(t.chunks)).Int32(C).Float32(float32(s.Eps)))
	}
	if err != nil {
		t.free()
		return grnBwd{}, err
	}
	return t, nil
}

// statsVX is blockDim.x of the 8-channel statistics kernels (STATS_VX in
// kernels/src/reduce.cuh): 64 channels a block.
const statsVX = 8

// grnStats returns the kernel, grid and block of the chunked statistics
// kernel name ("grn_sumsq", "grn_bwd_sums", "mlp_fwd", "mlp_bwd") over
// chunks HW chunks of s, for activations acts of dtype dt. For bf16 with C
// a multiple of 8 and every one of acts starting 16-byte aligned it is
// name_v8_bf16 (8 channels a thread, 16-byte loads; block (8, 8), grid
// (ceil(C/64), chunks, N)), bit-identical to the scalar kernel; otherwise
// name_f32 or name_bf16 (one channel a thread; block (32, 8), grid
// (ceil(C/32), chunks, N)).
func grnStats(name string, dt kernels.DType, s kernels.GRNShape, chunks int, acts ...kernels.Tensor) (string, cuda.Dim3, cuda.Dim3) {
	if dt == kernels.BFloat16 && s.C%8 == 0 && aligned16(acts...) {
		return name + "_v8_bf16", cuda.Dim3{X: blocks(s.C, 8*statsVX), Y: chunks, Z: s.N}, cuda.Dim3{X: statsVX, Y: 8, Z: 1}
	}
	return kernelFor(name, dt), cuda.Dim3{X: blocks(s.C, 32), Y: chunks, Z: s.N}, cuda.Dim3{X: 32, Y: 8, Z: 1}
}

// grnCheck validates s, including the limits of the kernels' grids (N and
// the HW chunks are grid dimensions of at most 65,535) and 32-bit sizes,
// then the tensors: x, y, dx and dy are activations of one dtype, which it
// returns (checkActs), the others float32.
func grnCheck(op string, s kernels.GRNShape, args ...kernels.Arg) (kernels.DType, error) {
	if err := s.Validate(); err != nil {
		return 0, fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if s.N > 65535 || blocks(s.HW, grnChunk) > 65535 {
		return 0, fmt.Errorf("%s %+v: N and HW/%d must be at most 65535 (CUDA grid limits): %w", op, s, grnChunk, kernels.ErrShape)
	}
	if err := normFitsInt32(op, s, s.N*s.HW*s.C); err != nil {
		return 0, err
	}
	var acts, f32 []kernels.Arg
	for _, a := range args {
		switch a.Name {
		case "x", "y", "dx", "dy", "a", "h", "da": // "a", "h", "da": MLPOps
			acts = append(acts, a)
		default:
			f32 = append(f32, a)
		}
	}
	return checkActs(op, acts, f32...)
}
