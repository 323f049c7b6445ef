package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Launch geometry of the depthwise kernels (kernels/src/dwconv.cu).
const (
	// dwTile is the side of the square pixel tile one thread of the tiled
	// kernels computes (DW_T in dwconv.cu).
	dwTile = 4
	// dwSmemFloats is the dynamic shared memory of one weight-gradient
	// block, in floats: 48 KB, the most a launch may ask for without
	// opting in.
	dwSmemFloats = 48 << 10 / 4
	// dwMaxTilesPerThread bounds the tiles one thread of the tiled weight
	// gradient sums before its block reduces.
	dwMaxTilesPerThread = 8
	// dwVecChannels is the channel group of the bf16 vector path: one
	// 16-byte load of bf16 (DW_VC in dwconv.cu).
	dwVecChannels = 8
	// dwVecTiles is the side, in tiles, of a forward or input-gradient
	// vector block (DW_VB), which has dwVecChannels·dwVecTiles² = 128
	// threads (DW_VTHREADS).
	dwVecTiles   = 4
	dwVecThreads = dwVecChannels * dwVecTiles * dwVecTiles
	// dwGroupPixels is the padded pixel count of a dy tile staged by the
	// vector weight gradient (DW_GP).
	dwGroupPixels = dwTile*dwTile + 1
)

// dwMinBlocks is the number of blocks the weight-gradient pass aims for
// (two per SM of an H100 with 132 SMs) before it lets a thread sum more
// than one tile; fewer blocks mean fewer partial sums to add afterwards.
// Tests lower it to make threads loop over several tiles.
var dwMinBlocks = 264

// dwTiled reports whether s has compiled tiled kernels: K = 3, 5, 7 or 9
// and stride 1 or 2. Other shapes take the generic kernels.
func dwTiled(s kernels.DWConvShape) bool {
	return (s.K == 3 || s.K == 5 || s.K == 7 || s.K == 9) && (s.Stride == 1 || s.Stride == 2)
}

// dwVector reports whether the bf16 tiled kernels of s take their vector
// path (the _vec_bf16 kernels of dwconv.cu: windows staged through shared
// memory with 16-byte loads) for activations of dtype dt: bf16, C a
// multiple of 8 and every tensor of acts 16-byte aligned (views may start
// anywhere; fresh allocations are 256-byte aligned).
func dwVector(s kernels.DWConvShape, dt kernels.DType, acts ...kernels.Tensor) bool {
	return dt == kernels.BFloat16 && s.C%dwVecChannels == 0 && dwTiled(s) && aligned16(acts...)
}

// dwVecGrid is the 1-D grid of a forward or input-gradient vector launch
// over an image of rows × cols pixels (y for the forward, dx for the input
// gradient): one block per (sample, 4×4 tiles, 8 channels).
func dwVecGrid(s kernels.DWConvShape, rows, cols int) cuda.Dim3 {
	side := dwTile * dwVecTiles
	return dim1(s.N * blocks(rows, side) * blocks(cols, side) * s.C / dwVecChannels)
}

// The tiled kernels' names by K (those of dwTiled) and activation dtype
// (dwNames.of), formatted once so that launches do not.
var (
	dwFwdNames       = newDWNames("dwconv_fwd_k%d")
	dwBwdInputNames  = newDWNames("dwconv_bwd_input_k%d")
	dwBwdWeightNames = newDWNames("dwconv_bwd_weight_k%d")
)

// dwNames holds a tiled kernel's name by K: [K][0] the float32 kernel,
// [K][1] the bf16 one, [K][2] the bf16 vector one.
type dwNames [10][3]string

func newDWNames(format string) (names dwNames) {
	for k := 3; k < len(names); k += 2 {
		base := fmt.Sprintf(format, k)
		names[k] = [3]string{kernelFor(base, kernels.Float32), kernelFor(base, kernels.BFloat16), kernelFor(base+"_vec", kernels.BFloat16)}
	}
	return names
}

// of returns the name of the kernel for K = k on activations of dtype dt,
// the vector one when vec (dwVector).
func (n *dwNames) of(k int, dt kernels.DType, vec bool) string {
	switch {
	case vec:
		return n[k][2]
	case dt == kernels.BFloat16:
		return n[k][1]
	}
	return n[k][0]
}

// dwCheck validates s and the tensors of its forward (args of
// kernels.LayerShapes.Forward) or backward (Backward): x, y, dx and dy are
// activations of one dtype, float32 or bf16, which it returns (checkActs);
// w, b, dw and db are float32. x and y must fit the kernels' int32 sizes.
// Errors wrap kernels.ErrShape or kernels.ErrDType and name op and the
// tensor.
func dwCheck(op string, s kernels.DWConvShape, args func(kernels.LayerShapes) []kernels.Arg) (kernels.DType, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	l := s.Layer()
	var acts, f32 []kernels.Arg
	for _, a := range args(l) {
		switch a.Name {
		case "x", "y", "dx", "dy":
			acts = append(acts, a)
		default:
			f32 = append(f32, a)
		}
	}
	dt, err := checkActs(op, acts, f32...)
	if err != nil {
		return 0, err
	}
	return dt, checkInt32(op, l.X.Len(), l.Y.Len())
}

// DWConv computes the depthwise convolution of [kernels.DWConvShape] s,
// PyTorch's nn.Conv2d(C, C, K, stride, padding=K/2, groups=C) on NHWC data:
//
//	y[n,oh,ow,c] = b[c] + Σ_{kh,kw} x[n, oh·S+kh−P, ow·S+kw−P, c]·w[c,0,kh,kw]
//
// with zero padding P = K/2; x [N, H, W, C], w [C, 1, K, K], b [C] (nil
// for none), y [N, OH, OW, C] overwritten. x and y are both float32 or
// both bf16 (docs/BF16.md: float32 arithmetic, y rounded once at its
// store); w and b are float32. The weights are transposed to tap-major
// [K·K, C] in a pooled scratch buffer (dwconv_wt_f32), then for K = 3, 5,
// 7, 9 and stride 1 or 2 each thread computes a 4×4 output tile of one
// channel with its weights in registers (dwconv_fwd_k<K>_f32 or _bf16;
// bf16 x and y with C % 8 == 0, both 16-byte aligned, take
// dwconv_fwd_k<K>_vec_bf16, which stages x through shared memory with
// 16-byte loads and gives bit for bit the same y); other shapes take
// dwconv_fwd_f32 (_bf16), one thread per output.
// dwconv.cu documents the geometry and the bytes and FLOPs. It returns an
// error wrapping kernels.ErrShape or kernels.ErrDType naming the tensor if
// s is invalid, a tensor does not match it or is not device memory of this
// backend, or the activations' dtypes differ.
func (b *Backend) DWConv(y, x, w, bias kernels.Tensor, s kernels.DWConvShape) error {
	const op = "dwconv"
	dt, err := dwCheck(op, s, func(l kernels.LayerShapes) []kernels.Arg { return l.Forward(y, x, w, bias) })
	if err != nil {
		return err
	}
	wt, err := b.dwTransposed(w, s)
	if err != nil {
		return err
	}
	defer b.pool.put(wt, 4*s.WShape().Len())
	hasBias := int32(0)
	if !bias.Nil() {
		hasBias = 1
	}
	oh, ow := s.OutH(), s.OutW()
	if dwTiled(s) {
		grid, block := dim1(blocks(s.N*blocks(oh, dwTile)*blocks(ow, dwTile)*s.C, 256)), dim1(256)
		vec := dwVector(s, dt, x, y)
		if vec {
			grid, block = dwVecGrid(s, oh, ow), dim1(dwVecThreads)
		}
		return b.launch(dwFwdNames.of(s.K, dt, vec), grid, block, 0, b.args().Ptr(ptr(y)).
			Ptr(ptr(x)).Ptr(wt).Ptr(ptr(bias)).Int32(hasBias).Int32(int32(s.N)).Int32(int32(s.H)).
			Int32(int32(s.W)).Int32(int32(s.C)).Int32(int32(s.Stride)).Int32(int32(oh)).Int32(int32(ow)))
	}
	return b.launch(kernelFor("dwconv_fwd", dt), dim1(blocks(y.Len(), 256)), dim1(256), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(wt).Ptr(ptr(bias)).Int32(hasBias).Int32(int32(s.N)).Int32(int32(s.H)).
		Int32(int32(s.W)).Int32(int32(s.C)).Int32(int32(s.K)).Int32(int32(s.Stride)).Int32(int32(oh)).
		Int32(int32(ow)))
}

// DWConvBackward computes the gradients of [Backend.DWConv] from dy [N, OH,
// OW, C]: dx [N, H, W, C] is overwritten (nil skips it), dw [C, 1, K, K]
// and db [C] (nil skips it) are accumulated. dy, x and dx are float32 or
// all bf16; w, dw and db float32. dx is gathered per 4×4 input tile
// (dwconv_bwd_input_k<K>_f32 or _bf16, or one thread per element for other
// shapes), with no atomics. On bf16 with C % 8 == 0, each tiled pass
// whose tensors are 16-byte aligned (dy and dx; dy and x) takes its
// _vec_bf16 kernel (as DWConv), with bit for bit the same dx, dw and db. The weight and bias gradients are summed
// deterministically in two passes: dwconv_bwd_weight_k<K> (or the generic
// dwconv_bwd_weight) writes float32 per-block partial sums into a pooled
// scratch buffer and column_sum_f32 adds them, in a fixed order, into dw
// and db. Errors are those of DWConv.
func (b *Backend) DWConvBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.DWConvShape) error {
	const op = "dwconv backward"
	dt, err := dwCheck(op, s, func(l kernels.LayerShapes) []kernels.Arg { return l.Backward(dx, dw, db, dy, x, w) })
	if err != nil {
		return err
	}
	if !dx.Nil() {
		if err := b.dwInputGrad(dx, dy, w, s, dt); err != nil {
			return err
		}
	}
	return b.dwWeightGrad(dw, db, dy, x, s, dt)
}

// dwTransposed returns a pooled buffer holding w [C, K·K] transposed to
// [K·K, C]; the caller puts it back (4·C·K² bytes).
func (b *Backend) dwTransposed(w kernels.Tensor, s kernels.DWConvShape) (cuda.DevicePtr, error) {
	n := s.WShape().Len()
	wt, err := b.pool.get(4 * n)
	if err != nil {
		return 0, err
	}
	if err := b.launch("dwconv_wt_f32", dim1(blocks(n, 256)), dim1(256), 0, b.args().Ptr(wt).Ptr(ptr(w)).
		Int32(int32(s.C)).Int32(int32(s.K*s.K))); err != nil {
		b.pool.put(wt, 4*n)
		return 0, err
	}
	return wt, nil
}

// dwInputGrad overwrites dx with the input gradient; dt is the dtype of dx
// and dy.
func (b *Backend) dwInputGrad(dx, dy, w kernels.Tensor, s kernels.DWConvShape, dt kernels.DType) error {
	wt, err := b.dwTransposed(w, s)
	if err != nil {
		return err
	}
	defer b.pool.put(wt, 4*s.WShape().Len())
	oh, ow := s.OutH(), s.OutW()
	if dwTiled(s) {
		grid, block := dim1(blocks(s.N*blocks(s.H, dwTile)*blocks(s.W, dwTile)*s.C, 256)), dim1(256)
		vec := dwVector(s, dt, dy, dx)
		if vec {
			grid, block = dwVecGrid(s, s.H, s.W), dim1(dwVecThreads)
		}
		return b.launch(dwBwdInputNames.of(s.K, dt, vec), grid, block, 0, b.args().Ptr(ptr(dx)).
			Ptr(ptr(dy)).Ptr(wt).Int32(int32(s.N)).Int32(int32(s.H)).Int32(int32(s.W)).Int32(int32(s.C)).
			Int32(int32(s.Stride)).Int32(int32(oh)).Int32(int32(ow)))
	}
	return b.launch(kernelFor("dwconv_bwd_input", dt), dim1(blocks(dx.Len(), 256)), dim1(256), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Ptr(wt).Int32(int32(s.N)).Int32(int32(s.H)).Int32(int32(s.W)).Int32(int32(s.C)).
		Int32(int32(s.K)).Int32(int32(s.Stride)).Int32(int32(oh)).Int32(int32(ow)))
}

// dwWeightGrad accumulates dw and (unless nil) db through per-chunk partial
// sums part [chunks, C·(K²+1)] (float32) in a pooled scratch buffer; dt is
// the dtype of dy and x.
func (b *Backend) dwWeightGrad(dw, db, dy, x kernels.Tensor, s kernels.DWConvShape, dt kernels.DType) error {
	kk := s.K * s.K
	ld := s.C * (kk + 1) // one row of part: dw in [C, K·K] order, then db
	oh, ow := s.OutH(), s.OutW()
	var (
		name        string
		grid, block cuda.Dim3
		smem        int
		chunks      int
		per         int // the kernel's last argument
	)
	if dwTiled(s) {
		// Channel tiles of ct channels (threadIdx.x), ty threads per
		// channel (threadIdx.y), each summing per tiles; the block's
		// shared buffer holds (K²+1)·ty·ct floats.
		maxCT := min(256, dwSmemFloats/(kk+1))
		nct := blocks(s.C, maxCT)
		ct := blocks(s.C, nct)
		ty := max(1, min(256/ct, dwSmemFloats/((kk+1)*ct)))
		tiles := s.N * blocks(oh, dwTile) * blocks(ow, dwTile)
		per = max(1, min(dwMaxTilesPerThread, tiles*nct/(ty*dwMinBlocks)))
		per = max(per, blocks(tiles, ty*65535)) // gridDim.y <= 65535
		chunks = blocks(tiles, ty*per)
		vec := dwVector(s, dt, dy, x)
		if vec {
			// The same ty, per and chunks (so the same sums in the same
			// order); channel tiles of whole 8-channel groups, as many as
			// the thread and shared-memory bounds allow for this ty, and
			// room for the staged dy tiles and window row.
			groups, most := s.C/dwVecChannels, max(1, min(256, dwSmemFloats/(kk+1))/(dwVecChannels*ty))
			nct = blocks(groups, most)
			ct = dwVecChannels * blocks(groups, nct)
			rp := ((dwTile-1)*s.Stride + s.K) | 1
			smem = max(4*(kk+1)*ty*ct, 2*ty*ct*(dwGroupPixels+rp))
		} else {
			smem = 4 * (kk + 1) * ty * ct
		}
		name = dwBwdWeightNames.of(s.K, dt, vec)
		grid, block = cuda.Dim3{X: nct, Y: chunks, Z: 1}, cuda.Dim3{X: ct, Y: ty, Z: 1}
	} else {
		pixels := s.N * oh * ow
		bx := blocks(ld, 256)
		chunks = max(1, min(pixels, dwMinBlocks/bx))
		per = max(blocks(pixels, chunks), blocks(pixels, 65535))
		chunks = blocks(pixels, per)
		name = kernelFor("dwconv_bwd_weight", dt)
		grid, block = cuda.Dim3{X: bx, Y: chunks, Z: 1}, dim1(256)
	}
	part, err := b.pool.get(4 * chunks * ld)
	if err != nil {
		return err
	}
	defer b.pool.put(part, 4*chunks*ld)
	args := b.args().Ptr(part).Ptr(ptr(dy)).Ptr(ptr(x)).Int32(int32(s.N)).Int32(int32(s.H)).Int32(int32(s.W)).Int32(int32(s.C))
	if !dwTiled(s) {
		args.Int32(int32(s.K))
	}
	args.Int32(int32(s.Stride)).Int32(int32(oh)).Int32(int32(ow)).Int32(int32(per))
	if err := b.launch(name, grid, block, smem, args); err != nil {
		return err
	}
	if err := b.columnSum(ptr(dw), part, chunks, s.C*kk, ld, chunks, true); err != nil {
		return err
	}
	if db.Nil() {
		return nil
	}
	return b.columnSum(ptr(db), part+cuda.DevicePtr(4*s.C*kk), chunks, s.C, ld, chunks, true)
}
