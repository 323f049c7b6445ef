// dwconv.cu: depthwise 2-D convolution over NHWC activations, forward and
// backward, the hot op of every ConvNeXt block (a 7×7 kernel on every
// channel, see docs/PERFORMANCE.md §2).
//
// Shapes (kernels.DWConvShape): x [N, H, W, C], weights w [C, 1, K, K] as
// PyTorch stores them, bias b [C], y [N, OH, OW, C] with odd K, stride S,
// zero padding P = K/2 and OH = (H − 1)/S + 1, OW = (W − 1)/S + 1:
//
//	y[n,oh,ow,c] = b[c] + Σ_{kh,kw} x[n, oh·S+kh−P, ow·S+kw−P, c]·w[c,0,kh,kw]
//
// Layout on the GPU. Channels are contiguous in memory, so threads run
// over channels: consecutive threads take consecutive channels of the same
// pixels and every warp load or store is a contiguous run of floats. The
// kernels first transpose the weights to tap-major wt [K·K, C]
// (dwconv_wt_f32), which makes the per-thread weight loads coalesced too.
//
// The tiled kernels (K = 3, 5, 7, 9 and S = 1, 2, with K and S known at
// compile time) give each thread a T×T = 4×4 tile of pixels of one channel.
// Every loop over taps and tile positions is unrolled, so the weights of
// the channel (K² floats) and the 16 accumulators live in registers and
// each input value loaded is used for all the outputs of the tile that
// read it: ((T−1)·S + K)² loads feed T²·K² FMAs (100 loads for 784 FMAs
// at K = 7, S = 1, a load:FMA ratio of 0.13 instead of 1). Neighbouring
// tiles, and the rows of the K-row window shared between vertically
// adjacent tiles, are served by L1/L2, so DRAM sees x and y about once:
// 8 bytes per output element for 2·K² FLOPs (98 FLOPs at K = 7), 12 FLOPs
// per byte, below an H100's fp32 ridge of about 20 (66.9 TFLOP/s over
// 3.35 TB/s; docs/PERFORMANCE.md §4): the forward is bound by DRAM bandwidth,
// about 0.42·10¹² outputs/s, as long as the FMAs and the L1 traffic (the
// 100 window loads and 49 weight loads of a 16-output tile) hide under it.
// The forward and the input gradient need no shared memory and no barrier
// (the bf16 vector path below stages through shared memory instead).
// Other kernel sizes and strides take the generic kernels (one thread per
// element, runtime loops), which are correct for any shape but slower.
//
// The weight gradient is deterministic: a first kernel writes per-block
// partial sums part[chunk, C·K² + C] (dw in [C, K·K] order, then db), and
// column_sum_f32 (bias.cu) adds the chunks in a fixed order into dw and db.
//
// Activations x, y, dx and dy are float (the _f32 kernels) or __nv_bfloat16
// (the _bf16 kernels, docs/BF16.md): every kernel is a template on that
// storage type T, reads it through ld_f32 (bf16.cuh) and computes in
// float32, with the weights, the bias and the partial sums always float32;
// a bf16 output is rounded once, by st_f32 when its final value is stored.
// A bf16 element is 2 bytes, so the bf16 kernels move half the activation
// bytes with the same arithmetic.
//
// bf16 vector path. A tiled bf16 kernel reads one channel a thread, so a
// warp load is 64 bytes of 2-byte accesses. Holding 8 channels a thread
// instead would need 8·K² weights in registers; the _vec_bf16 kernels
// (taken when C % 8 == 0 and the activations are 16-byte aligned; the
// host decides) keep one channel a thread and stage the input through
// shared memory instead. A block loads its windows cooperatively with
// 16-byte uint4 loads (8 channels of one pixel), waits, and each thread
// runs the scalar kernels' per-tile code on its 4×4 tile of one channel,
// reading the window from shared memory (the window sources DWGlobal,
// DWShared and DWRows). Only where a value is read from changes: every
// output sums the same values in the same order (bias, then taps in
// (kh, kw) order; the weight gradient's per-thread tile order, ty-ordered
// block sums and chunk geometry are the scalar kernel's), so the results
// are bit for bit those of the scalar kernels, which stay the fallback.
//   - Forward and input gradient: a block of 128 threads is 8 channels ×
//     4×4 tiles (16×16 pixels); it stages its whole window once, skewed
//     by one pixel every tile step so that the 4 tiles of a warp read
//     different banks (DWWin). Static shared memory: at most 26,832 B
//     (forward, K = 9, S = 2: 39 × 43 pixels of 16 bytes), so no opt-in.
//     The window is read from DRAM about once per block; its halo (at
//     K = 7, S = 1, 22² pixels for 16² outputs) is served by L2. Edge
//     blocks of an image whose side is not a multiple of 16 pixels leave
//     threads idle (at the 7×7 of a ConvNeXt's last stage, 12 of 16).
//   - Weight gradient: the block geometry must stay that of the scalar
//     kernel, where TY tiles of CT channels can be anywhere in the image,
//     so the block streams its TY windows one row at a time (2 barriers a
//     row; each thread's loads of a row are worked out once per tile
//     group) and stages the TY dy tiles: 2·TY·CT·(17 + RP) bytes, at most
//     15,360 B (K = 7, S = 2, 256 threads), in the dynamic buffer
//     that the block sums reuse.
//   - Stores stay per thread, 2 bytes: a warp store writes 8 channels of
//     4 pixels, 4 runs of 16 contiguous bytes, the same 16-byte pieces a
//     staged uint4 store of the block's 8 channels would write. Staging
//     would only trade 16 store instructions a thread for 2, at the cost
//     of a barrier and a shared-memory transpose.
#include "bf16.cuh"

// Side of the square pixel tile one thread computes in the tiled kernels.
#define DW_T 4

// dw_ld_or0 returns element i of p as float when ok, else 0 (padding).
// For bf16 only the 16-bit load is conditional and the widening is not, so
// the unrolled tile loops do not keep one predicate alive per load (which
// made dwconv_bwd_weight_k7_bf16 spill).
static __device__ __forceinline__ float dw_ld_or0(const float* __restrict__ p, long long i, bool ok) { return ok ? p[i] : 0.f; }
static __device__ __forceinline__ float dw_ld_or0(const __nv_bfloat16* __restrict__ p, long long i, bool ok) {
	return __bfloat162float(ok ? p[i] : __ushort_as_bfloat16(0));
}

// dwconv_wt_f32 transposes depthwise weights w [C, K·K] to tap-major wt
// [K·K, C]: wt[t·C + c] = w[c·KK + t]. Launch: 1-D, one thread per element
// (blockDim.x = 256, gridDim.x = ceil(C·KK/256)); stores coalesced, reads
// strided but tiny (C·K² floats).
extern "C" __global__ void __launch_bounds__(256) dwconv_wt_f32(float* wt, const float* w, int C, int KK) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < C * KK) {
		const int t = i / C, c = i - t * C;
		wt[i] = __ldg(w + c * KK + t);
	}
}

// ---- generic kernels: any odd K, any stride --------------------------------

// dwconv_fwd_f32 computes y (overwritten) from x, the transposed weights wt
// [K·K, C] and, when has_bias != 0, b [C] (b may be null otherwise).
// Launch: 1-D, one thread per element of y (blockDim.x = 256, gridDim.x =
// ceil(N·OH·OW·C / 256)); c is the fastest index, so all loads and stores
// are coalesced. Bytes: sizeof(T) written per output plus up to K² loads
// (L1) of x and wt; 2·K² FLOPs per output. Taps are summed in (kh, kw)
// order after the bias, as the CPU reference does.
template <class T>
static __device__ __forceinline__ void dw_fwd_generic(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	const unsigned e = blockIdx.x * blockDim.x + threadIdx.x;
	if (e < (unsigned)(N * OH * OW * C)) {
		const unsigned pix = e / C, rows = pix / OW;
		const int c = (int)(e - pix * C), ow = (int)(pix - rows * OW), oh = (int)(rows % OH), n = (int)(rows / OH);
		const int P = K / 2;
		float acc = has_bias ? __ldg(b + c) : 0.f;
		for (int kh = 0; kh < K; kh++) {
			const int ih = oh * S + kh - P;
			if (ih < 0 || ih >= H) continue;
			const T* xrow = x + ((long long)n * H + ih) * W * C + c;
			for (int kw = 0; kw < K; kw++) {
				const int iw = ow * S + kw - P;
				if (iw >= 0 && iw < W) acc = fmaf(ld_f32(xrow, (long long)iw * C), __ldg(wt + (kh * K + kw) * C + c), acc);
			}
		}
		st_f32(y, e, acc);
	}
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_f32(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	dw_fwd_generic(y, x, wt, b, has_bias, N, H, W, C, K, S, OH, OW);
}

// dwconv_fwd_bf16 is dwconv_fwd_f32 on bf16 x and y.
extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	dw_fwd_generic(y, x, wt, b, has_bias, N, H, W, C, K, S, OH, OW);
}

// dwconv_bwd_input_f32 overwrites dx [N, H, W, C] with the input gradient
// from dy [N, OH, OW, C] and wt [K·K, C]:
//
//	dx[n,ih,iw,c] = Σ dy[n,oh,ow,c]·w[c,0,kh,kw] over oh·S+kh−P = ih, ow·S+kw−P = iw
//
// gathered per element of dx (no atomics). Only kh ≡ ih + P (mod S) with
// kh <= ih + P can match, so the tap loops step by S. Launch: 1-D, one
// thread per element of dx (blockDim.x = 256), c fastest.
template <class T>
static __device__ __forceinline__ void dw_bwd_input_generic(T* __restrict__ dx, const T* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	const unsigned e = blockIdx.x * blockDim.x + threadIdx.x;
	if (e < (unsigned)(N * H * W * C)) {
		const unsigned pix = e / C, rows = pix / W;
		const int c = (int)(e - pix * C), iw = (int)(pix - rows * W), ih = (int)(rows % H), n = (int)(rows / H);
		const int P = K / 2;
		float acc = 0.f;
		for (int kh = (ih + P) % S; kh < K && kh <= ih + P; kh += S) {
			const int oh = (ih + P - kh) / S;
			if (oh >= OH) continue;
			const T* dyrow = dy + ((long long)n * OH + oh) * OW * C + c;
			for (int kw = (iw + P) % S; kw < K && kw <= iw + P; kw += S) {
				const int ow = (iw + P - kw) / S;
				if (ow < OW) acc = fmaf(ld_f32(dyrow, (long long)ow * C), __ldg(wt + (kh * K + kw) * C + c), acc);
			}
		}
		st_f32(dx, e, acc);
	}
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	dw_bwd_input_generic(dx, dy, wt, N, H, W, C, K, S, OH, OW);
}

// dwconv_bwd_input_bf16 is dwconv_bwd_input_f32 on bf16 dy and dx.
extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int K, int S, int OH, int OW) {
	dw_bwd_input_generic(dx, dy, wt, N, H, W, C, K, S, OH, OW);
}

// dwconv_bwd_weight_f32 writes the per-chunk partial weight and bias
// gradients of chunk k = blockIdx.y, whose output pixels are
// [k·pixels_per_chunk, (k+1)·pixels_per_chunk) in (n, oh, ow) order:
//
//	part[k, c·K² + t] = Σ_pixels dy[pixel, c]·x[input pixel of tap t, c]
//	part[k, C·K² + c] = Σ_pixels dy[pixel, c]
//
// part is [chunks, C·(K² + 1)] row-major, float32 for either T. Launch:
// gridDim = (ceil(C·(K²+1) / 256), chunks), blockDim.x = 256; thread i of
// the row takes tap t = i / C and channel c = i % C (t = K² is the bias),
// so the loads of a warp are coalesced over channels. Each thread loops
// over its chunk's pixels: two loads per FMA, which is why the tiled
// kernels exist.
template <class T>
static __device__ __forceinline__ void dw_bwd_weight_generic(float* __restrict__ part, const T* __restrict__ dy, const T* __restrict__ x, int N, int H, int W, int C, int K, int S, int OH, int OW, int pixels_per_chunk) {
	const int KK = K * K;
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < (KK + 1) * C) {
		const int t = i / C, c = i - t * C;
		const int kh = t / K, kw = t - kh * K, P = K / 2;
		const int pixels = N * OH * OW;
		const int p0 = blockIdx.y * pixels_per_chunk;
		const int p1 = min(pixels, p0 + pixels_per_chunk);
		float acc = 0.f;
		for (int p = p0; p < p1; p++) {
			const float g = ld_f32(dy, (long long)p * C + c);
			if (t == KK) {
				acc += g;
				continue;
			}
			const int rows = p / OW, ow = p - rows * OW, oh = rows % OH, n = rows / OH;
			const int ih = oh * S + kh - P, iw = ow * S + kw - P;
			if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc = fmaf(g, ld_f32(x, (((long long)n * H + ih) * W + iw) * C + c), acc);
		}
		const long long row = (long long)blockIdx.y * (KK + 1) * C;
		part[row + (t == KK ? KK * C + c : c * KK + t)] = acc;
	}
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int N, int H, int W, int C, int K, int S, int OH, int OW, int pixels_per_chunk) {
	dw_bwd_weight_generic(part, dy, x, N, H, W, C, K, S, OH, OW, pixels_per_chunk);
}

// dwconv_bwd_weight_bf16 is dwconv_bwd_weight_f32 on bf16 dy and x.
extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int K, int S, int OH, int OW, int pixels_per_chunk) {
	dw_bwd_weight_generic(part, dy, x, N, H, W, C, K, S, OH, OW, pixels_per_chunk);
}

// ---- tiled kernels: K and S known at compile time --------------------------

// dw_tile_index splits a tile-major thread index into (n, tile row, tile
// column, channel); it returns false past the last tile.
__device__ __forceinline__ bool dw_tile_index(unsigned g, int N, int C, int tilesH, int tilesW, int& n, int& tr, int& tc, int& c) {
	const unsigned tile = g / C, rows = tile / tilesW;
	c = (int)(g - tile * C);
	tc = (int)(tile - rows * tilesW);
	tr = (int)(rows % tilesH);
	n = (int)(rows / tilesH);
	return rows / tilesH < (unsigned)N;
}

// dw_load_taps reads channel c's K×K taps from the tap-major weights
// wt [K·K, C] into registers.
template <int K>
__device__ __forceinline__ void dw_load_taps(float (&w)[K][K], const float* wt, int C, int c) {
#pragma unroll
	for (int kh = 0; kh < K; kh++)
#pragma unroll
		for (int kw = 0; kw < K; kw++) w[kh][kw] = __ldg(wt + (kh * K + kw) * C + c);
}

// dw_fill_tile sets every element of the register tile acc to v.
__device__ __forceinline__ void dw_fill_tile(float (&acc)[DW_T][DW_T], float v) {
#pragma unroll
	for (int i = 0; i < DW_T; i++)
#pragma unroll
		for (int q = 0; q < DW_T; q++) acc[i][q] = v;
}

// dw_store_tile writes the register tile acc to rows r0.. and columns c0..
// of channel c of sample n of out [N, rows, cols, C] (NHWC), leaving out
// the elements past the last row or column.
template <class T>
__device__ __forceinline__ void dw_store_tile(T* __restrict__ out, const float (&acc)[DW_T][DW_T], int rows, int cols, int C, int n, int r0, int c0, int c) {
#pragma unroll
	for (int i = 0; i < DW_T; i++) {
		if (r0 + i >= rows) continue;
		T* row = out + ((long long)n * rows + r0 + i) * cols * C + c;
#pragma unroll
		for (int q = 0; q < DW_T; q++)
			if (c0 + q < cols) st_f32(row, (long long)(c0 + q) * C, acc[i][q]);
	}
}

// A window source hands a tile's input values to dw_window and
// dw_bwd_input_tile. row(r, ih) returns a handle to window row r (image
// row ih, inside the image); at(row, j, iw) returns window column j (image
// column iw) of that row as float, 0 outside the image. stage(r) and
// release(r) run before and after window row r whether or not it is
// inside the image, in block-uniform control flow: the streamed source
// (DWRows) loads and frees a row there, the others do nothing. Sources
// change only where a value is read from, never which value or in what
// order it is summed.

// DWGlobal reads channel c of sample n of src [N, rows, cols, C] (NHWC)
// straight from global memory, one element a load.
template <class T>
struct DWGlobal {
	const T* src;
	int n, rows, cols, C, c;
	__device__ __forceinline__ void stage(int) const {}
	__device__ __forceinline__ void release(int) const {}
	__device__ __forceinline__ const T* row(int, int ih) const { return src + ((long long)n * rows + ih) * cols * C + c; }
	__device__ __forceinline__ float at(const T* row, int, int iw) const { return dw_ld_or0(row, (long long)iw * C, iw >= 0 && iw < cols); }
};

// dw_window walks the input window of the DW_T×DW_T output tile at
// (oh0, ow0) of an image H rows high, reading it from src: window row r
// (column j) is ih = oh0·S − P + r (iw = ow0·S − P + j); rows outside the
// image are skipped, columns outside read as 0. Each value v is handed to
// f(i, q, kh, kw, v) for every output (i, q) of the tile that reads it,
// through tap kh = r − i·S, kw = j − q·S, in (r, j, i, q) order: for a
// fixed output, taps in (kh, kw) order, as in the CPU reference.
template <int K, int S, class Src, typename F>
__device__ __forceinline__ void dw_window(const Src& src, int H, int oh0, int ow0, F f) {
	constexpr int P = K / 2, R = (DW_T - 1) * S + K;
	const int ih0 = oh0 * S - P, iw0 = ow0 * S - P;
#pragma unroll
	for (int r = 0; r < R; r++) {
		src.stage(r);
		const int ih = ih0 + r;
		if (ih >= 0 && ih < H) {
			const auto row = src.row(r, ih);
#pragma unroll
			for (int j = 0; j < R; j++) {
				const float v = src.at(row, j, iw0 + j);
#pragma unroll
				for (int i = 0; i < DW_T; i++) {
					const int kh = r - i * S;
					if (kh < 0 || kh >= K) continue;
#pragma unroll
					for (int q = 0; q < DW_T; q++) {
						const int kw = j - q * S;
						if (kw >= 0 && kw < K) f(i, q, kh, kw, v);
					}
				}
			}
		}
		src.release(r);
	}
}

// dw_fwd_tile computes the DW_T×DW_T output tile at (oh0, ow0) of channel c
// of sample n of y over its input window, read from x (dw_window). Taps
// reach each output in (kh, kw) order after the bias, as in the CPU
// reference.
template <int K, int S, class T, class Src>
__device__ __forceinline__ void dw_fwd_tile(T* __restrict__ y, const Src& x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int H, int C, int OH, int OW, int n, int oh0, int ow0, int c) {
	float w[K][K];
	dw_load_taps<K>(w, wt, C, c);
	const float b0 = has_bias ? __ldg(b + c) : 0.f;
	float acc[DW_T][DW_T];
	dw_fill_tile(acc, b0);
	dw_window<K, S>(x, H, oh0, ow0, [&](int i, int q, int kh, int kw, float v) { acc[i][q] = fmaf(v, w[kh][kw], acc[i][q]); });
	dw_store_tile(y, acc, OH, OW, C, n, oh0, ow0, c);
}

// dw_bwd_input_tile overwrites the DW_T×DW_T tile of dx at (ih0, iw0),
// ih0 and iw0 multiples of DW_T (hence of S), reading dy from src. Output
// row a of the window is oh = ih0/S + a for a in [−⌊P/S⌋, ⌊(DW_T−1+P)/S⌋]
// (window row a + ⌊P/S⌋); dx row i receives it through tap kh = i + P −
// a·S when 0 <= kh < K, all known at compile time because ih0 ≡ 0 (mod S).
template <int K, int S, class T, class Src>
__device__ __forceinline__ void dw_bwd_input_tile(T* __restrict__ dx, const Src& dy, const float* __restrict__ wt, int H, int W, int C, int OH, int n, int ih0, int iw0, int c) {
	constexpr int P = K / 2, A0 = -(P / S), A1 = (DW_T - 1 + P) / S;
	float w[K][K];
	dw_load_taps<K>(w, wt, C, c);
	float acc[DW_T][DW_T];
	dw_fill_tile(acc, 0.f);
	const int oh0 = ih0 / S, ow0 = iw0 / S;
#pragma unroll
	for (int a = A0; a <= A1; a++) {
		const int oh = oh0 + a;
		if (oh < 0 || oh >= OH) continue;
		const auto dyrow = dy.row(a - A0, oh);
#pragma unroll
		for (int bq = A0; bq <= A1; bq++) {
			const float v = dy.at(dyrow, bq - A0, ow0 + bq);
#pragma unroll
			for (int i = 0; i < DW_T; i++) {
				const int kh = i + P - a * S;
				if (kh < 0 || kh >= K) continue;
#pragma unroll
				for (int q = 0; q < DW_T; q++) {
					const int kw = q + P - bq * S;
					if (kw >= 0 && kw < K) acc[i][q] = fmaf(v, w[kh][kw], acc[i][q]);
				}
			}
		}
	}
	dw_store_tile(dx, acc, H, W, C, n, ih0, iw0, c);
}

// dw_bwd_weight_tile adds to acc (K² taps) and accb the weight and bias
// gradient contributions of the DW_T×DW_T output tile at (oh0, ow0):
// dy of the tile is held in registers and every input value of the window
// is multiplied into each tap that pairs it with an output of the tile.
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_weight_tile(float (&acc)[K][K], float& accb, const T* __restrict__ dy, const T* __restrict__ x, int H, int W, int C, int OH, int OW, int n, int oh0, int ow0, int c) {
	float g[DW_T][DW_T];
#pragma unroll
	for (int i = 0; i < DW_T; i++) {
		const int oh = oh0 + i;
		const T* dyrow = dy + ((long long)n * OH + oh) * OW * C + c;
#pragma unroll
		for (int q = 0; q < DW_T; q++) {
			g[i][q] = dw_ld_or0(dyrow, (long long)(ow0 + q) * C, oh < OH && ow0 + q < OW);
			accb += g[i][q];
		}
	}
	dw_window<K, S>(DWGlobal<T>{x, n, H, W, C, c}, H, oh0, ow0, [&](int i, int q, int kh, int kw, float v) { acc[kh][kw] = fmaf(g[i][q], v, acc[kh][kw]); });
}

// dw_fwd_tiled is the body of dwconv_fwd_k*: one thread per (output
// tile, channel), channel fastest.
template <int K, int S, class T>
__device__ __forceinline__ void dw_fwd_tiled(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int OH, int OW) {
	const int tilesH = (OH + DW_T - 1) / DW_T, tilesW = (OW + DW_T - 1) / DW_T;
	int n, tr, tc, c;
	if (dw_tile_index(blockIdx.x * blockDim.x + threadIdx.x, N, C, tilesH, tilesW, n, tr, tc, c))
		dw_fwd_tile<K, S>(y, DWGlobal<T>{x, n, H, W, C, c}, wt, b, has_bias, H, C, OH, OW, n, tr * DW_T, tc * DW_T, c);
}

// dw_bwd_input_tiled is the body of dwconv_bwd_input_k*: one thread per
// (input tile, channel), channel fastest.
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_input_tiled(T* __restrict__ dx, const T* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int OH, int OW) {
	const int tilesH = (H + DW_T - 1) / DW_T, tilesW = (W + DW_T - 1) / DW_T;
	int n, tr, tc, c;
	if (dw_tile_index(blockIdx.x * blockDim.x + threadIdx.x, N, C, tilesH, tilesW, n, tr, tc, c))
		dw_bwd_input_tile<K, S>(dx, DWGlobal<T>{dy, n, OH, OW, C, c}, wt, H, W, C, OH, n, tr * DW_T, tc * DW_T, c);
}

// dw_tile_at splits tile index tile (tile-major over [N, tilesH, tilesW])
// into (n, tile row, tile column).
__device__ __forceinline__ void dw_tile_at(int tile, int tilesH, int tilesW, int& n, int& tr, int& tc) {
	const int rows = tile / tilesW;
	tc = tile - rows * tilesW;
	tr = rows % tilesH;
	n = rows / tilesH;
}

// dw_reduce_part finishes a weight-gradient block of blockDim = (CT, TY)
// threads for channels [c0, c0 + CT): thread (tx, ty) puts its K² + 1 sums
// acc and accb into red [(K²+1)·TY·CT] (one barrier), and the TY sums of
// each (channel, tap) are added in ty order and written, coalesced, to
// part[blockIdx.y, C·(K²+1)] (dw in [C, K·K] order, then db). With TY = 1
// (wide channel tiles) red only transposes the sums into coalesced stores.
template <int K>
__device__ __forceinline__ void dw_reduce_part(float* red, float* __restrict__ part, const float (&acc)[K][K], float accb, int C, int c0) {
	constexpr int KK = K * K;
	const int CT = blockDim.x, TY = blockDim.y, nt = CT * TY, tx = threadIdx.x, ty = threadIdx.y;
#pragma unroll
	for (int kh = 0; kh < K; kh++)
#pragma unroll
		for (int kw = 0; kw < K; kw++) red[((kh * K + kw) * TY + ty) * CT + tx] = acc[kh][kw];
	red[(KK * TY + ty) * CT + tx] = accb;
	__syncthreads();
	const int valid = min(CT, C - c0);
	float* row = part + (long long)blockIdx.y * (KK + 1) * C;
	for (int e = ty * CT + tx; e < valid * (KK + 1); e += nt) {
		// e < valid·KK: weight entry (channel e / KK, tap e % KK), stored
		// contiguously at row[c0·KK + e]; then the valid bias entries.
		const bool isBias = e >= valid * KK;
		const int cx = isBias ? e - valid * KK : e / KK;
		const int t = isBias ? KK : e - cx * KK;
		float s = 0.f;
		for (int k = 0; k < TY; k++) s += red[(t * TY + k) * CT + cx];
		row[isBias ? KK * C + c0 + cx : c0 * KK + e] = s;
	}
}

// dw_bwd_weight_tiled is the body of dwconv_bwd_weight_k*. Block
// (blockIdx.x, blockIdx.y) takes channels [blockIdx.x·CT, +CT) with CT =
// blockDim.x and output tiles [blockIdx.y·TY·tiles_per_thread, +TY·
// tiles_per_thread) with TY = blockDim.y: thread (tx, ty) accumulates K² + 1
// sums in registers over tiles ty, ty + TY, ... of that range, and
// dw_reduce_part adds the TY threads of a channel in dynamic shared memory
// red [(K²+1)·TY·CT].
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_weight_tiled(float* red, float* __restrict__ part, const T* __restrict__ dy, const T* __restrict__ x, int N, int H, int W, int C, int OH, int OW, int tiles_per_thread) {
	const int CT = blockDim.x, TY = blockDim.y;
	const int tx = threadIdx.x, ty = threadIdx.y, c0 = blockIdx.x * CT, c = c0 + tx;
	const int tilesH = (OH + DW_T - 1) / DW_T, tilesW = (OW + DW_T - 1) / DW_T;
	const int tiles = N * tilesH * tilesW;
	float acc[K][K];
#pragma unroll
	for (int kh = 0; kh < K; kh++)
#pragma unroll
		for (int kw = 0; kw < K; kw++) acc[kh][kw] = 0.f;
	float accb = 0.f;
	if (c < C) {
		const int first = blockIdx.y * TY * tiles_per_thread + ty;
		for (int k = 0; k < tiles_per_thread; k++) {
			const int tile = first + k * TY;
			if (tile >= tiles) break;
			int n, tr, tc;
			dw_tile_at(tile, tilesH, tilesW, n, tr, tc);
			dw_bwd_weight_tile<K, S>(acc, accb, dy, x, H, W, C, OH, OW, n, tr * DW_T, tc * DW_T, c);
		}
	}
	dw_reduce_part<K>(red, part, acc, accb, C, c0);
}

// ---- bf16 vector path: windows staged through shared memory -------------
//
// The tiled kernels above read one channel a thread, so a warp's load is
// 32 bf16 (64 bytes) of 2-byte accesses. The _vec_bf16 kernels below, used
// when C % 8 == 0 and the activations are 16-byte aligned, let a block
// load the input windows of its tiles cooperatively into shared memory
// with 16-byte uint4 loads (8 channels of one pixel each), then every
// thread runs the same per-tile code as above on its own 4×4 tile of one
// channel, reading the window from shared memory instead of global memory.
// Only where a value is read from changes: each output still sums the
// same values in the same order, so the results are bit for bit those of
// the scalar kernels.

// Channels of a vector block: one 16-byte uint4 of bf16 per pixel.
#define DW_VC 8
// A forward or input-gradient vector block covers DW_VB×DW_VB tiles of
// DW_VC channels: DW_VC·DW_VB² = 128 threads, thread (channel, tile) with
// the channel fastest, so a warp is one row of DW_VB tiles.
#define DW_VB 4
#define DW_VTHREADS (DW_VC * DW_VB * DW_VB)

// DWWin sizes a vector block's shared window of WR×WR pixels (uint4 each)
// whose tiles start every D columns. Column u is stored at u + u/D (one
// pixel of padding after every D columns), so the 4 tiles of a warp, D + 1
// pixels apart, read 4 different 16-byte bank groups: no bank conflicts.
template <int WR_, int D>
struct DWWin {
	static constexpr int WR = WR_, pitch = WR + (WR - 1) / D, size = WR * pitch;
};
// DWFwdWin: the forward's window over x, (DW_VB·DW_T − 1)·S + K pixels a
// side, tiles every DW_T·S columns (at most 39 × 43 pixels, 26,832 B, at
// K = 9, S = 2).
template <int K, int S>
struct DWFwdWin : DWWin<(DW_VB * DW_T - 1) * S + K, DW_T * S> {};
// DWBwdWin: the input gradient's window over dy, (DW_VB − 1)·DW_T/S rows
// plus the ⌊(DW_T−1+P)/S⌋ + ⌊P/S⌋ + 1 of one tile (dw_bwd_input_tile),
// tiles every DW_T/S columns (at most 24 × 29 pixels, 11,136 B, at K = 9,
// S = 1).
template <int K, int S>
struct DWBwdWin : DWWin<(DW_VB - 1) * (DW_T / S) + (DW_T - 1 + K / 2) / S + (K / 2) / S + 1, DW_T / S> {};
// DW_VSMEM is the static shared window of the K kernels, in uint4: the
// larger of the two strides.
#define DW_VSMEM(Win, k) (Win<k, 1>::size > Win<k, 2>::size ? Win<k, 1>::size : Win<k, 2>::size)

// DWShared reads a window staged by dw_stage: p points at the thread's
// channel in the first pixel of its tile's window.
template <int D, int PITCH>
struct DWShared {
	const __nv_bfloat16* p;
	__device__ __forceinline__ void stage(int) const {}
	__device__ __forceinline__ void release(int) const {}
	__device__ __forceinline__ const __nv_bfloat16* row(int r, int) const { return p + r * PITCH * DW_VC; }
	__device__ __forceinline__ float at(const __nv_bfloat16* row, int j, int) const { return __bfloat162float(row[(j + j / D) * DW_VC]); }
};

// dw_ld8_or0 returns the 8 bf16 at p + i as one 16-byte load when ok,
// else zeros; p + i must be 16-byte aligned.
static __device__ __forceinline__ uint4 dw_ld8_or0(const __nv_bfloat16* __restrict__ p, long long i, bool ok) {
	return ok ? *reinterpret_cast<const uint4*>(p + i) : make_uint4(0, 0, 0, 0);
}

// dw_stage loads the Win::WR × Win::WR pixels from row r0 and column c0 of
// channels [ch0, ch0 + 8) of sample n of src [N, rows, cols, C] into buf
// (skewed, DWWin), zeros outside the image, then waits for the block.
template <class Win, int D>
__device__ __forceinline__ void dw_stage(uint4* buf, const __nv_bfloat16* __restrict__ src, int rows, int cols, int C, int n, int r0, int c0, int ch0) {
	for (int e = threadIdx.x; e < Win::WR * Win::WR; e += DW_VTHREADS) {
		const int r = e / Win::WR, u = e - r * Win::WR, ih = r0 + r, iw = c0 + u;
		buf[r * Win::pitch + u + u / D] = dw_ld8_or0(src, (((long long)n * rows + ih) * cols + iw) * C + ch0, ih >= 0 && ih < rows && iw >= 0 && iw < cols);
	}
	__syncthreads();
}

// DWVBlock locates a forward or input-gradient vector block and its
// thread: blockIdx.x runs over (n, block row, block column, channel group)
// with the channel group fastest, so neighbouring blocks read the same
// pixels; (ti, tj) is the thread's tile in the block, c its channel.
struct DWVBlock {
	int n, r0, c0, ch0, ti, tj, c;
};

// dw_vblock returns the DWVBlock of this thread for tiles of an image
// tilesH × tilesW tiles; r0 and c0 are the block's first pixel row and
// column of that image.
__device__ __forceinline__ DWVBlock dw_vblock(int C, int tilesH, int tilesW) {
	const unsigned groups = C / DW_VC, bH = (tilesH + DW_VB - 1) / DW_VB, bW = (tilesW + DW_VB - 1) / DW_VB;
	unsigned b = blockIdx.x;
	DWVBlock v;
	v.ch0 = (int)(b % groups) * DW_VC;
	b /= groups;
	v.c0 = (int)(b % bW) * DW_VB * DW_T;
	b /= bW;
	v.r0 = (int)(b % bH) * DW_VB * DW_T;
	v.n = (int)(b / bH);
	const int tile = threadIdx.x / DW_VC;
	v.ti = tile / DW_VB;
	v.tj = tile - v.ti * DW_VB;
	v.c = v.ch0 + (int)(threadIdx.x % DW_VC);
	return v;
}

// dw_shared returns the DWShared of thread v's tile in window buf: its
// rows start ti·D rows down, its columns tj·(D + 1) pixels along.
template <class Win, int D>
__device__ __forceinline__ DWShared<D, Win::pitch> dw_shared(const uint4* buf, const DWVBlock& v) {
	return {reinterpret_cast<const __nv_bfloat16*>(buf + v.ti * D * Win::pitch + v.tj * (D + 1)) + (v.c - v.ch0)};
}

// dw_fwd_vec is the body of dwconv_fwd_k*_vec_bf16: the block stages the
// x window of its DW_VB×DW_VB output tiles (DWFwdWin) and each thread
// computes its tile with dw_fwd_tile; threads whose tile lies past the
// image store nothing.
template <int K, int S>
__device__ __forceinline__ void dw_fwd_vec(uint4* buf, __nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int H, int W, int C, int OH, int OW) {
	using Win = DWFwdWin<K, S>;
	constexpr int P = K / 2, D = DW_T * S;
	const DWVBlock v = dw_vblock(C, (OH + DW_T - 1) / DW_T, (OW + DW_T - 1) / DW_T);
	dw_stage<Win, D>(buf, x, H, W, C, v.n, v.r0 * S - P, v.c0 * S - P, v.ch0);
	dw_fwd_tile<K, S>(y, dw_shared<Win, D>(buf, v), wt, b, has_bias, H, C, OH, OW, v.n, v.r0 + v.ti * DW_T, v.c0 + v.tj * DW_T, v.c);
}

// dw_bwd_input_vec is the body of dwconv_bwd_input_k*_vec_bf16: the block
// stages the dy window of its DW_VB×DW_VB input tiles (DWBwdWin, from
// output row r0/S − ⌊P/S⌋) and each thread computes its tile with
// dw_bwd_input_tile.
template <int K, int S>
__device__ __forceinline__ void dw_bwd_input_vec(uint4* buf, __nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int H, int W, int C, int OH, int OW) {
	using Win = DWBwdWin<K, S>;
	constexpr int A0 = -((K / 2) / S), D = DW_T / S;
	const DWVBlock v = dw_vblock(C, (H + DW_T - 1) / DW_T, (W + DW_T - 1) / DW_T);
	dw_stage<Win, D>(buf, dy, OH, OW, C, v.n, v.r0 / S + A0, v.c0 / S + A0, v.ch0);
	dw_bwd_input_tile<K, S>(dx, dw_shared<Win, D>(buf, v), wt, H, W, C, OH, v.n, v.r0 + v.ti * DW_T, v.c0 + v.tj * DW_T, v.c);
}

// DW_GP is the padded pixel count of a staged dy tile and DWRows<K,
// S>::RP that of a staged window row: odd, so the threads of one channel
// and consecutive ty (TY > 1 puts several in a warp when CT < 32) read
// different bank groups.
#define DW_GP (DW_T * DW_T + 1)

// DWRows streams the x windows of the TY tiles a weight-gradient vector
// block works on at once (tiles tile0 + ty) one window row at a time
// through buf [TY][RP][CT] bf16: stage(r) loads row r of every window
// with 16-byte loads (zeros outside the image and for tiles >= tiles),
// then waits for the block; release(r) waits until every thread has read
// it. A row is TY·R·CT/8 loads for the block's TY·CT threads, so each
// thread has at most SLOTS = ⌈R/8⌉ of them, the same (tile, column,
// channel group) in every row: dw_rows works out their addresses once per
// tile group, and stage(r) only adds the row. The windows of neighbouring
// tiles overlap; L1 and L2 serve the overlap, as for the scalar kernel.
template <int K, int S>
struct DWRows {
	static constexpr int R = (DW_T - 1) * S + K, RP = R | 1, SLOTS = (R + DW_VC - 1) / DW_VC;
	__nv_bfloat16* buf;
	const __nv_bfloat16* x;
	int H;
	long long rowStride;   // W·C, elements
	long long off[SLOTS];  // element offset of the slot's pixel in window row 0
	int ih0[SLOTS];        // its image row in window row 0, below −R for a slot that reads nothing
	int dst[SLOTS];        // its offset in buf, −1 for an unused slot
	__device__ __forceinline__ void stage(int r) const {
#pragma unroll
		for (int k = 0; k < SLOTS; k++) {
			const int ih = ih0[k] + r;
			if (dst[k] >= 0) *reinterpret_cast<uint4*>(buf + dst[k]) = dw_ld8_or0(x, off[k] + r * rowStride, ih >= 0 && ih < H);
		}
		__syncthreads();
	}
	__device__ __forceinline__ void release(int) const { __syncthreads(); }
	__device__ __forceinline__ const __nv_bfloat16* row(int, int) const { return buf + threadIdx.y * RP * blockDim.x + threadIdx.x; }
	__device__ __forceinline__ float at(const __nv_bfloat16* row, int j, int) const { return __bfloat162float(row[j * blockDim.x]); }
};

// dw_rows returns the DWRows of tiles tile0 + t, t < TY, channels [c0,
// c0 + CT) of x [N, H, W, C]: load e = tid + k·TY·CT of a row (slot k) is
// window column j of tile t for channel group g, e = (t·R + j)·G + g.
template <int K, int S>
__device__ __forceinline__ DWRows<K, S> dw_rows(__nv_bfloat16* buf, const __nv_bfloat16* __restrict__ x, int H, int W, int C, int c0, int tile0, int tiles, int tilesH, int tilesW) {
	using Rows = DWRows<K, S>;
	constexpr int R = Rows::R, P = K / 2;
	const int CT = blockDim.x, G = CT / DW_VC, TY = blockDim.y, nt = CT * TY;
	Rows rows;
	rows.buf = buf;
	rows.x = x;
	rows.H = H;
	rows.rowStride = (long long)W * C;
#pragma unroll
	for (int k = 0; k < Rows::SLOTS; k++) {
		const int e = threadIdx.y * CT + threadIdx.x + k * nt;
		const int t = e / (R * G), rest = e - t * R * G, j = rest / G, g = rest - j * G;
		const int tile = tile0 + t;
		int n = 0, tr = 0, tc = 0;
		if (tile < tiles) dw_tile_at(tile, tilesH, tilesW, n, tr, tc);
		const int ih = tr * DW_T * S - P, iw = tc * DW_T * S - P + j;
		const bool ok = tile < tiles && c0 + g * DW_VC < C && iw >= 0 && iw < W;
		rows.dst[k] = e < TY * R * G ? (t * Rows::RP + j) * CT + g * DW_VC : -1;
		rows.ih0[k] = ok ? ih : -2 * R;
		rows.off[k] = (((long long)n * H + ih) * W + iw) * C + c0 + g * DW_VC;
	}
	return rows;
}

// dw_stage_dy loads the dy tiles of tiles tile0 + t, t < TY, channels
// [c0, c0 + CT), into gbuf [TY][DW_GP][CT] with 16-byte loads (zeros past
// the image and for tiles >= tiles), then waits for the block.
__device__ __forceinline__ void dw_stage_dy(__nv_bfloat16* gbuf, const __nv_bfloat16* __restrict__ dy, int C, int OH, int OW, int c0, int tile0, int tiles, int tilesH, int tilesW) {
	const int CT = blockDim.x, G = CT / DW_VC, TY = blockDim.y;
#pragma unroll 1
	for (int e = threadIdx.y * CT + threadIdx.x; e < TY * DW_T * DW_T * G; e += CT * TY) {
		const int t = e / (DW_T * DW_T * G), rest = e - t * DW_T * DW_T * G, p = rest / G, g = rest - p * G;
		const int tile = tile0 + t;
		int n = 0, tr = 0, tc = 0;
		if (tile < tiles) dw_tile_at(tile, tilesH, tilesW, n, tr, tc);
		const int oh = tr * DW_T + p / DW_T, ow = tc * DW_T + p % DW_T;
		const bool ok = tile < tiles && c0 + g * DW_VC < C && oh < OH && ow < OW;
		*reinterpret_cast<uint4*>(gbuf + (t * DW_GP + p) * CT + g * DW_VC) = dw_ld8_or0(dy, (((long long)n * OH + oh) * OW + ow) * C + c0 + g * DW_VC, ok);
	}
	__syncthreads();
}

// dw_bwd_weight_vec is the body of dwconv_bwd_weight_k*_vec_bf16: the
// geometry, the tiles of each thread and their order are those of
// dw_bwd_weight_tiled (blockDim = (CT, TY), CT a multiple of 8), so the
// partial sums are bit for bit the same; only the loads change. For each
// group of TY tiles the block stages their dy tiles (dw_stage_dy) and
// streams their x windows row by row (DWRows) through the dynamic shared
// memory that dw_reduce_part later reuses as red: 2·TY·CT·(DW_GP + RP)
// bytes, at most 15,360 B. A thread past the last tile skips every window
// row (its tile row is set above the image) and its bias sum.
template <int K, int S>
__device__ __forceinline__ void dw_bwd_weight_vec(float* red, float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int OH, int OW, int tiles_per_thread) {
	const int CT = blockDim.x, TY = blockDim.y;
	const int tx = threadIdx.x, ty = threadIdx.y, c0 = blockIdx.x * CT, c = c0 + tx;
	const int tilesH = (OH + DW_T - 1) / DW_T, tilesW = (OW + DW_T - 1) / DW_T;
	const int tiles = N * tilesH * tilesW;
	__nv_bfloat16* gbuf = reinterpret_cast<__nv_bfloat16*>(red);
	__nv_bfloat16* rbuf = gbuf + TY * DW_GP * CT;
	float acc[K][K];
#pragma unroll
	for (int kh = 0; kh < K; kh++)
#pragma unroll
		for (int kw = 0; kw < K; kw++) acc[kh][kw] = 0.f;
	float accb = 0.f;
	const int first = blockIdx.y * TY * tiles_per_thread;
	for (int k = 0; k < tiles_per_thread; k++) {
		const int tile0 = first + k * TY;
		if (tile0 >= tiles) break; // block-uniform
		dw_stage_dy(gbuf, dy, C, OH, OW, c0, tile0, tiles, tilesH, tilesW);
		const int tile = tile0 + ty;
		const bool active = tile < tiles && c < C;
		int n = 0, tr = 0, tc = 0;
		if (active) dw_tile_at(tile, tilesH, tilesW, n, tr, tc);
		float g[DW_T][DW_T];
#pragma unroll
		for (int i = 0; i < DW_T; i++)
#pragma unroll
			for (int q = 0; q < DW_T; q++) {
				g[i][q] = __bfloat162float(gbuf[(ty * DW_GP + i * DW_T + q) * CT + tx]);
				if (active) accb += g[i][q];
			}
		const DWRows<K, S> rows = dw_rows<K, S>(rbuf, x, H, W, C, c0, tile0, tiles, tilesH, tilesW);
		dw_window<K, S>(rows, H, active ? tr * DW_T : -DWRows<K, S>::R, tc * DW_T, [&](int i, int q, int kh, int kw, float v) { acc[kh][kw] = fmaf(g[i][q], v, acc[kh][kw]); });
	}
	dw_reduce_part<K>(red, part, acc, accb, C, c0);
}

// ---- tiled entry points ----------------------------------------------------
//
// dwconv_fwd_k{3,5,7,9}_{f32,bf16} overwrite y from x, wt [K·K, C] and
// (has_bias) b; the _bf16 kernels read and write bf16 x and y. Launch: 1-D, one thread per (output tile, channel) with the channel
// fastest: blockDim.x = 256, gridDim.x = ceil(N·⌈OH/4⌉·⌈OW/4⌉·C / 256).
// S must be 1 or 2 (anything else writes nothing; the host uses the
// generic kernel then).
//
// dwconv_bwd_input_k{3,5,7,9}_{f32,bf16} overwrite dx from dy and wt
// (bf16 dy and dx for _bf16). Launch as
// the forward but over input tiles: N·⌈H/4⌉·⌈W/4⌉·C threads.
//
// dwconv_bwd_weight_k{3,5,7,9}_{f32,bf16} write the float32 partial sums
// part [chunks, C·(K²+1)] of dw_bwd_weight_tiled (from bf16 dy and x for
// _bf16). Launch: blockDim = (CT, TY) with CT·TY
// <= 256, gridDim = (⌈C/CT⌉, chunks) where chunks = ⌈tiles /
// (TY·tiles_per_thread)⌉, dynamic shared memory 4·(K²+1)·TY·CT bytes
// (<= 48 KB). Bytes: x about once (L1 serves the window overlap), dy once,
// part 4·chunks·C·(K²+1); 2·K² FLOPs per output element, as the forward.

#define DW_STRIDES(call) \
	if (S == 1) {        \
		call(1);         \
	} else if (S == 2) { \
		call(2);         \
	}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k3_f32(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<3, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k3_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<3, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k5_f32(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<5, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k5_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<5, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k7_f32(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<7, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k7_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<7, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k9_f32(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<9, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_fwd_k9_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_fwd_tiled<9, s>(y, x, wt, b, has_bias, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k3_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<3, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k3_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<3, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k5_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<5, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k5_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<5, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k7_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<7, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k7_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<7, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k9_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<9, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_input_k9_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
#define DW_CALL(s) dw_bwd_input_tiled<9, s>(dx, dy, wt, N, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k3_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<3, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k3_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<3, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k5_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<5, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k5_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<5, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k7_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<7, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k7_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<7, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k9_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<9, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256) dwconv_bwd_weight_k9_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_tiled<9, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

// ---- bf16 vector entry points ---------------------------------------------
//
// dwconv_fwd_k{3,5,7,9}_vec_bf16 and dwconv_bwd_input_k{3,5,7,9}_vec_bf16
// take the arguments of their _bf16 twins and need C % 8 == 0 and
// 16-byte-aligned x and y (dy and dx). Launch: blockDim.x = 128
// (DW_VTHREADS), gridDim.x = N·⌈tilesH/4⌉·⌈tilesW/4⌉·C/8 with tilesH ×
// tilesW the 4×4 tiles of y (forward) or of dx (input gradient); static
// shared memory DW_VSMEM (at most 26,832 B, forward K = 9).
//
// dwconv_bwd_weight_k{3,5,7,9}_vec_bf16 take the arguments of
// dwconv_bwd_weight_k*_bf16 and its launch, except that CT must be a
// multiple of 8 (C % 8 == 0, 16-byte-aligned dy and x) and the dynamic
// shared memory is the larger of 4·(K²+1)·TY·CT and 2·TY·CT·(DW_GP + RP)
// bytes (dw_bwd_weight_vec). Their launch bounds ask for 2 blocks of 256
// threads an SM at K <= 7, which holds them to 128 registers without
// spilling (ptxas chose 133 to 150 at K = 7 otherwise, one block of 240
// threads where the scalar kernel fits two); K = 9 needs about 160.

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_fwd_k3_vec_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWFwdWin, 3)];
#define DW_CALL(s) dw_fwd_vec<3, s>(buf, y, x, wt, b, has_bias, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_fwd_k5_vec_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWFwdWin, 5)];
#define DW_CALL(s) dw_fwd_vec<5, s>(buf, y, x, wt, b, has_bias, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_fwd_k7_vec_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWFwdWin, 7)];
#define DW_CALL(s) dw_fwd_vec<7, s>(buf, y, x, wt, b, has_bias, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_fwd_k9_vec_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWFwdWin, 9)];
#define DW_CALL(s) dw_fwd_vec<9, s>(buf, y, x, wt, b, has_bias, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_bwd_input_k3_vec_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWBwdWin, 3)];
#define DW_CALL(s) dw_bwd_input_vec<3, s>(buf, dx, dy, wt, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_bwd_input_k5_vec_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWBwdWin, 5)];
#define DW_CALL(s) dw_bwd_input_vec<5, s>(buf, dx, dy, wt, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_bwd_input_k7_vec_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWBwdWin, 7)];
#define DW_CALL(s) dw_bwd_input_vec<7, s>(buf, dx, dy, wt, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(DW_VTHREADS) dwconv_bwd_input_k9_vec_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int S, int OH, int OW) {
	__shared__ uint4 buf[DW_VSMEM(DWBwdWin, 9)];
#define DW_CALL(s) dw_bwd_input_vec<9, s>(buf, dx, dy, wt, H, W, C, OH, OW)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256, 2) dwconv_bwd_weight_k3_vec_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_vec<3, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256, 2) dwconv_bwd_weight_k5_vec_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_vec<5, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256, 2) dwconv_bwd_weight_k7_vec_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_vec<7, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}

extern "C" __global__ void __launch_bounds__(256, 1) dwconv_bwd_weight_k9_vec_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x, int N, int H, int W, int C, int S, int OH, int OW, int tiles_per_thread) {
	CUDA_DYN_SMEM(float, red);
#define DW_CALL(s) dw_bwd_weight_vec<9, s>(red, part, dy, x, N, H, W, C, OH, OW, tiles_per_thread)
	DW_STRIDES(DW_CALL)
#undef DW_CALL
}
