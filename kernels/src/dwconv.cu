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
// The forward and the input gradient need no shared memory and no barrier.
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

// dw_window walks the input window of the DW_T×DW_T output tile at
// (oh0, ow0) of channel c of sample n of x [N, H, W, C]: window row r
// (column j) is ih = oh0·S − P + r (iw = ow0·S − P + j); rows outside the
// image are skipped, columns outside read as 0. Each value v is handed to
// f(i, q, kh, kw, v) for every output (i, q) of the tile that reads it,
// through tap kh = r − i·S, kw = j − q·S, in (r, j, i, q) order: for a
// fixed output, taps in (kh, kw) order, as in the CPU reference.
template <int K, int S, class T, typename F>
__device__ __forceinline__ void dw_window(const T* __restrict__ x, int H, int W, int C, int n, int oh0, int ow0, int c, F f) {
	constexpr int P = K / 2, R = (DW_T - 1) * S + K;
	const int ih0 = oh0 * S - P, iw0 = ow0 * S - P;
#pragma unroll
	for (int r = 0; r < R; r++) {
		const int ih = ih0 + r;
		if (ih < 0 || ih >= H) continue;
		const T* xrow = x + ((long long)n * H + ih) * W * C + c;
#pragma unroll
		for (int j = 0; j < R; j++) {
			const int iw = iw0 + j;
			const float v = dw_ld_or0(xrow, (long long)iw * C, iw >= 0 && iw < W);
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
}

// dw_fwd_tile computes the DW_T×DW_T output tile at (oh0, ow0) of channel c
// of sample n over its input window (dw_window). Taps reach each output in
// (kh, kw) order after the bias, as in the CPU reference.
template <int K, int S, class T>
__device__ __forceinline__ void dw_fwd_tile(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int H, int W, int C, int OH, int OW, int n, int oh0, int ow0, int c) {
	float w[K][K];
	dw_load_taps<K>(w, wt, C, c);
	const float b0 = has_bias ? __ldg(b + c) : 0.f;
	float acc[DW_T][DW_T];
	dw_fill_tile(acc, b0);
	dw_window<K, S>(x, H, W, C, n, oh0, ow0, c, [&](int i, int q, int kh, int kw, float v) { acc[i][q] = fmaf(v, w[kh][kw], acc[i][q]); });
	dw_store_tile(y, acc, OH, OW, C, n, oh0, ow0, c);
}

// dw_bwd_input_tile overwrites the DW_T×DW_T tile of dx at (ih0, iw0),
// ih0 and iw0 multiples of DW_T (hence of S). Output row a of the window
// is oh = ih0/S + a for a in [−⌊P/S⌋, ⌊(DW_T−1+P)/S⌋]; dx row i receives
// it through tap kh = i + P − a·S when 0 <= kh < K, all known at compile
// time because ih0 ≡ 0 (mod S).
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_input_tile(T* __restrict__ dx, const T* __restrict__ dy, const float* __restrict__ wt, int H, int W, int C, int OH, int OW, int n, int ih0, int iw0, int c) {
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
		const T* dyrow = dy + ((long long)n * OH + oh) * OW * C + c;
#pragma unroll
		for (int bq = A0; bq <= A1; bq++) {
			const int ow = ow0 + bq;
			const float v = dw_ld_or0(dyrow, (long long)ow * C, ow >= 0 && ow < OW);
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
	dw_window<K, S>(x, H, W, C, n, oh0, ow0, c, [&](int i, int q, int kh, int kw, float v) { acc[kh][kw] = fmaf(g[i][q], v, acc[kh][kw]); });
}

// dw_fwd_tiled is the body of dwconv_fwd_k*: one thread per (output
// tile, channel), channel fastest.
template <int K, int S, class T>
__device__ __forceinline__ void dw_fwd_tiled(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ wt, const float* __restrict__ b, int has_bias, int N, int H, int W, int C, int OH, int OW) {
	const int tilesH = (OH + DW_T - 1) / DW_T, tilesW = (OW + DW_T - 1) / DW_T;
	int n, tr, tc, c;
	if (dw_tile_index(blockIdx.x * blockDim.x + threadIdx.x, N, C, tilesH, tilesW, n, tr, tc, c))
		dw_fwd_tile<K, S>(y, x, wt, b, has_bias, H, W, C, OH, OW, n, tr * DW_T, tc * DW_T, c);
}

// dw_bwd_input_tiled is the body of dwconv_bwd_input_k*: one thread per
// (input tile, channel), channel fastest.
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_input_tiled(T* __restrict__ dx, const T* __restrict__ dy, const float* __restrict__ wt, int N, int H, int W, int C, int OH, int OW) {
	const int tilesH = (H + DW_T - 1) / DW_T, tilesW = (W + DW_T - 1) / DW_T;
	int n, tr, tc, c;
	if (dw_tile_index(blockIdx.x * blockDim.x + threadIdx.x, N, C, tilesH, tilesW, n, tr, tc, c))
		dw_bwd_input_tile<K, S>(dx, dy, wt, H, W, C, OH, OW, n, tr * DW_T, tc * DW_T, c);
}

// dw_bwd_weight_tiled is the body of dwconv_bwd_weight_k*. Block
// (blockIdx.x, blockIdx.y) takes channels [blockIdx.x·CT, +CT) with CT =
// blockDim.x and output tiles [blockIdx.y·TY·tiles_per_thread, +TY·
// tiles_per_thread) with TY = blockDim.y: thread (tx, ty) accumulates K² + 1
// sums in registers over tiles ty, ty + TY, ... of that range, the TY
// threads of a channel meet in dynamic shared memory red [(K²+1)·TY·CT]
// (one barrier) and their sums are added in ty order and written, coalesced,
// to part[blockIdx.y, C·(K²+1)] (dw in [C, K·K] order, then db). With TY =
// 1 (wide channel tiles) the shared buffer only transposes the sums into
// coalesced stores.
template <int K, int S, class T>
__device__ __forceinline__ void dw_bwd_weight_tiled(float* red, float* __restrict__ part, const T* __restrict__ dy, const T* __restrict__ x, int N, int H, int W, int C, int OH, int OW, int tiles_per_thread) {
	constexpr int KK = K * K;
	const int CT = blockDim.x, TY = blockDim.y, nt = CT * TY;
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
			const int rows = tile / tilesW;
			const int tc = tile - rows * tilesW, tr = rows % tilesH, n = rows / tilesH;
			dw_bwd_weight_tile<K, S>(acc, accb, dy, x, H, W, C, OH, OW, n, tr * DW_T, tc * DW_T, c);
		}
	}
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
