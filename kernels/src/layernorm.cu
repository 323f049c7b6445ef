// layernorm.cu: LayerNorm over the channels of NHWC rows x [rows, C], plain
// and fused with GELU, forward and backward (kernels.NormOps; PyTorch
// F.layer_norm with biased variance, docs/CONVNEXTV2.md section 1.6).
//
// Every kernel gives whole rows to warps: lane l of a warp owns channels
// l, l+32, l+64, ... of its row, so each load and store of a warp is a
// coalesced run of 32 consecutive floats along C, and the row statistics
// are warp sums (xor shuffles, no shared memory, no block barrier).
// Statistics are computed in float32 in two passes over the row (the mean,
// then the mean squared deviation) on values shifted by the row's first
// element, which stays accurate when the mean is large compared with the
// spread; the second and third reads of a row are expected to hit L1.
//
// Parameter gradients are deterministic: each warp accumulates its rows'
// shares of dw and db per channel in its own slab (shared memory, or global
// scratch when 2·C floats per warp do not fit), the block adds its warps'
// slabs in warp order into one partial row, and layernorm_bwd_reduce_f32
// adds the partial rows in block order to dw and db. No float atomics.
#include "bf16.cuh"
#include "gelu.cuh"
#include "reduce.cuh"

#define LN_MAX_THREADS 256

// ln_vec says whether the bf16 kernels take the rows of p [rows, C] in
// 8-channel groups with 16-byte vector accesses: lane l then owns channels
// [8l, 8l + 8), [8l + 256, 8l + 264), ... (C a multiple of 8 and p 16-byte
// aligned, so every row is). The float32 kernels and unaligned bf16 rows
// keep one channel a lane (channels l, l + 32, ...), so float32 results do
// not change; the per-lane partial sums, and so the last bits of the bf16
// kernels' statistics, depend on the layout.
template <class T>
static __device__ __forceinline__ bool ln_vec(const T* p, int C) {
	return sizeof(T) == 2 && (C & 7) == 0 && aligned16(p);
}

// ln_ld loads lane's group at channel c of row r (8 values if vec, else
// v[0]) and returns how many it loaded; ln_st stores them back likewise.
template <class T>
static __device__ __forceinline__ int ln_ld(const T* r, int c, bool vec, float (&v)[8]) {
	if (vec) {
		ld8(r, c, v);
		return 8;
	}
	v[0] = ld_f32(r, c);
	return 1;
}
template <class T>
static __device__ __forceinline__ void ln_st(T* r, int c, bool vec, const float (&v)[8]) {
	if (vec) {
		st8(r, c, v);
	} else {
		st_f32(r, c, v[0]);
	}
}

// ln_fwd normalises row r = blockIdx.x·warps + warp, if it exists:
// y = act((x − mean)·rstd·w + b), and stores mean and rstd. T is the
// storage type of x and y (float, or __nv_bfloat16 for bf16 activations:
// float32 arithmetic, y rounded once).
template <class T>
static __device__ __forceinline__ void ln_fwd(T* y, float* mean, float* rstd, const T* x, const float* w,
                                              const float* b, int rows, int C, float eps, int approx) {
	const int lane = threadIdx.x & 31;
	const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (r < rows) {  // warp-uniform
		const T* xr = x + (size_t)r * C;
		T* yr = y + (size_t)r * C;
		// Shifted two-pass statistics: with the pivot k = x[0], x − k is
		// exact for values within a factor of 2 of k (Sterbenz), so
		// neither the mean m = mean(x − k) nor the deviations
		// (x − k) − m lose the digits a large mean would take from x.
		// Only lane 0 loads x[0] (and broadcasts it), so when y aliases x
		// no lane can read x[0] after lane 0 has overwritten it.
		const float k = __shfl_sync(0xffffffffu, lane == 0 ? ld_f32(xr, 0) : 0.0f, 0);
		const bool vec = ln_vec(x, C) && ln_vec(y, C);
		const int first = vec ? 8 * lane : lane;
		const int step = vec ? 256 : 32;
		float v[8];
		float s = 0.0f;
		for (int c = first; c < C; c += step) {
			const int n = ln_ld(xr, c, vec, v);
#pragma unroll
			for (int j = 0; j < 8; j++) {
				if (j < n) s += v[j] - k;
			}
		}
		const float m = warp_sum(s) / (float)C;
		float q = 0.0f;
		for (int c = first; c < C; c += step) {
			const int n = ln_ld(xr, c, vec, v);
#pragma unroll
			for (int j = 0; j < 8; j++) {
				if (j < n) {
					const float d = (v[j] - k) - m;
					q += d * d;
				}
			}
		}
		const float rs = rsqrtf(warp_sum(q) / (float)C + eps);
		for (int c = first; c < C; c += step) {
			const int n = ln_ld(xr, c, vec, v);
#pragma unroll
			for (int j = 0; j < 8; j++) {
				if (j < n) {
					const float u = ((v[j] - k) - m) * rs * w[c + j] + b[c + j];
					v[j] = approx < 0 ? u : gelu_act(u, approx);
				}
			}
			ln_st(yr, c, vec, v);
		}
		if (lane == 0) {
			mean[r] = k + m;
			rstd[r] = rs;
		}
	}
}

// layernorm_fwd_f32 normalises each row of x [rows, C] over C:
// y = (x − mean)·rstd·w + b, rstd = 1/sqrt(var + eps), biased var, and
// writes mean and rstd [rows]; w and b are [C]. y may alias x.
//
// Launch: block 32·W threads (W warps, W <= 8), grid ceil(rows/W); warp w
// of block k takes row k·W + w. Traffic per row: 4·C B read from DRAM (the
// two further reads should hit L1), 4·C B written, plus 8 B of statistics;
// about 7 FLOPs per element.
extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_fwd_f32(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b, int rows,
                      int C, float eps) {
	ln_fwd(y, mean, rstd, x, w, b, rows, C, eps, -1);
}

// layernorm_gelu_fwd_f32 is layernorm_fwd_f32 followed by y = GELU(u) on the
// normalised value u, approx 0 (erf) or 1 (tanh); u is not stored. Launch
// and traffic as for layernorm_fwd_f32, plus about 20 FLOPs per element.
extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_gelu_fwd_f32(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                           int rows, int C, float eps, int approx) {
	ln_fwd(y, mean, rstd, x, w, b, rows, C, eps, approx);
}

// ln_bwd is the body of the two backward kernels (see layernorm_bwd_f32).
// slabs points at this block's W per-warp slabs of 2·C floats. T is the
// storage type of dx, dy and x. A float32 dx holds du = dy·GELU'(u) between
// the two passes of the fused backward; a bf16 one cannot (du would be
// rounded), so the second pass recomputes du from dy instead.
template <class T>
static __device__ __forceinline__ void ln_bwd(T* dx, float* part, float* slabs, const T* dy, const T* x,
                                              const float* mean, const float* rstd, const float* w, const float* b,
                                              int rows, int C, int rows_per_block, int approx) {
	const int lane = threadIdx.x & 31;
	const int warp = threadIdx.x >> 5;
	const int warps = blockDim.x >> 5;
	float* acc = slabs + (size_t)warp * 2 * C;  // [0, C): dw share, [C, 2C): db share
	for (int c = lane; c < C; c += 32) {
		acc[c] = 0.0f;
		acc[C + c] = 0.0f;
	}
	const int row0 = blockIdx.x * rows_per_block;
	const int row1 = min(row0 + rows_per_block, rows);
	const float inv_c = 1.0f / (float)C;
	for (int r = row0 + warp; r < row1; r += warps) {  // warp-uniform
		const T* xr = x + (size_t)r * C;
		const T* dyr = dy + (size_t)r * C;
		T* dxr = dx + (size_t)r * C;
		const bool keep = sizeof(T) == sizeof(float);  // dx can hold du
		const float mu = mean[r];
		const float rs = rstd[r];
		// Pass 1: the row sums of g = d·w and g·x̂, where d is dy, or
		// dy·GELU'(u) for the fused op (stored in dx for pass 2).
		const bool vec = ln_vec(x, C) && ln_vec(dy, C) && ln_vec(dx, C);  // bf16 only: !keep
		const int first = vec ? 8 * lane : lane;
		const int step = vec ? 256 : 32;
		float xv[8];
		float dv[8];
		float sg = 0.0f;
		float sgx = 0.0f;
		for (int c = first; c < C; c += step) {
			const int n = ln_ld(xr, c, vec, xv);
			ln_ld(dyr, c, vec, dv);
#pragma unroll
			for (int j = 0; j < 8; j++) {
				if (j < n) {
					const float xh = (xv[j] - mu) * rs;
					float d = dv[j];
					if (approx >= 0) {
						d *= gelu_grad(xh * w[c + j] + b[c + j], approx);
						if (keep) st_f32(dxr, c + j, d);
					}
					const float g = d * w[c + j];
					sg += g;
					sgx += g * xh;
				}
			}
		}
		sg = warp_sum(sg) * inv_c;
		sgx = warp_sum(sgx) * inv_c;
		// Pass 2: dx and this warp's shares of dw and db. Each lane reads
		// and writes only its own channels, so dx may alias dy.
		const T* dr = approx >= 0 && keep ? dxr : dyr;
		for (int c = first; c < C; c += step) {
			const int n = ln_ld(xr, c, vec, xv);
			ln_ld(dr, c, vec, dv);
#pragma unroll
			for (int j = 0; j < 8; j++) {
				if (j < n) {
					const float xh = (xv[j] - mu) * rs;
					float d = dv[j];
					if (approx >= 0 && !keep) d *= gelu_grad(xh * w[c + j] + b[c + j], approx);
					acc[c + j] += d * xh;
					acc[C + c + j] += d;
					dv[j] = rs * (d * w[c + j] - sg - xh * sgx);
				}
			}
			ln_st(dxr, c, vec, dv);
		}
	}
	__syncthreads();
	// The block's partial row: its warps' slabs added in warp order.
	for (int j = threadIdx.x; j < 2 * C; j += blockDim.x) {
		float s = 0.0f;
		for (int k = 0; k < warps; k++) {
			s += slabs[(size_t)k * 2 * C + j];
		}
		part[(size_t)blockIdx.x * 2 * C + j] = s;
	}
}

// layernorm_bwd_f32 overwrites dx [rows, C] with the LayerNorm input
// gradient and writes the block's partial sums of the parameter gradients:
//
//	x̂ = (x − mean)·rstd, g = dy·w,
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)),
//	part[k][c] = Σ_{rows of block k} dy·x̂,  part[k][C + c] = Σ dy,
//
// from dy and x [rows, C], mean and rstd [rows] and w [C]. dx may alias dy.
// layernorm_bwd_reduce_f32 then adds part [gridDim.x, 2C] to dw and db.
//
// Launch: block 32·W threads (W <= 8), grid T = ceil(rows/rows_per_block);
// warp w of block k takes rows k·rows_per_block + w + i·W. The per-warp
// slabs [W][2C] live in dynamic shared memory (8·W·C bytes) when scratch is
// null, else in scratch [T][W][2C] (global; for C too large for shared
// memory). Traffic per row: 8·C B read from DRAM (x, dy; the second pass
// reads L1), 4·C B written, plus 8·C·T/rows B of partials; about 15 FLOPs
// per element.
extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_bwd_f32(float* dx, float* part, float* scratch, const float* dy, const float* x, const float* mean,
                      const float* rstd, const float* w, int rows, int C, int rows_per_block) {
	CUDA_DYN_SMEM(float, smem);
	float* slabs = scratch != nullptr ? scratch + (size_t)blockIdx.x * (blockDim.x >> 5) * 2 * C : smem;
	ln_bwd(dx, part, slabs, dy, x, mean, rstd, w, nullptr, rows, C, rows_per_block, -1);
}

// layernorm_gelu_bwd_f32 is layernorm_bwd_f32 for y = GELU(u),
// u = x̂·w + b: it recomputes u from x, mean, rstd, w and b [C], forms
// du = dy·GELU'(u) (approx 0 erf, 1 tanh), stores it in dx between its two
// passes, and applies the LayerNorm backward to du (dw and db partials are
// Σ du·x̂ and Σ du). dx may alias dy. Launch as for layernorm_bwd_f32, plus
// one more write and read of dx per element (L1/L2) and about 30 FLOPs.
extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_gelu_bwd_f32(float* dx, float* part, float* scratch, const float* dy, const float* x, const float* mean,
                           const float* rstd, const float* w, const float* b, int rows, int C, int rows_per_block,
                           int approx) {
	CUDA_DYN_SMEM(float, smem);
	float* slabs = scratch != nullptr ? scratch + (size_t)blockIdx.x * (blockDim.x >> 5) * 2 * C : smem;
	ln_bwd(dx, part, slabs, dy, x, mean, rstd, w, b, rows, C, rows_per_block, approx);
}

// layernorm_fwd_bf16, layernorm_gelu_fwd_bf16, layernorm_bwd_bf16 and
// layernorm_gelu_bwd_bf16 are the kernels above on bf16 activations (x, y,
// dy, dx): float32 statistics, parameters, partial sums and arithmetic,
// each bf16 output rounded once; 16-byte vector accesses, 8 channels a
// lane, when C is a multiple of 8 and the tensors are 16-byte aligned
// (ln_vec). Launch as their float32 forms; traffic per element halves for
// the activations (2 B each).
extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_fwd_bf16(__nv_bfloat16* y, float* mean, float* rstd, const __nv_bfloat16* x, const float* w, const float* b,
                       int rows, int C, float eps) {
	ln_fwd(y, mean, rstd, x, w, b, rows, C, eps, -1);
}

extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_gelu_fwd_bf16(__nv_bfloat16* y, float* mean, float* rstd, const __nv_bfloat16* x, const float* w,
                            const float* b, int rows, int C, float eps, int approx) {
	ln_fwd(y, mean, rstd, x, w, b, rows, C, eps, approx);
}

extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_bwd_bf16(__nv_bfloat16* dx, float* part, float* scratch, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                       const float* mean, const float* rstd, const float* w, int rows, int C, int rows_per_block) {
	CUDA_DYN_SMEM(float, smem);
	float* slabs = scratch != nullptr ? scratch + (size_t)blockIdx.x * (blockDim.x >> 5) * 2 * C : smem;
	ln_bwd(dx, part, slabs, dy, x, mean, rstd, w, nullptr, rows, C, rows_per_block, -1);
}

extern "C" __global__ void __launch_bounds__(LN_MAX_THREADS)
    layernorm_gelu_bwd_bf16(__nv_bfloat16* dx, float* part, float* scratch, const __nv_bfloat16* dy,
                            const __nv_bfloat16* x, const float* mean, const float* rstd, const float* w, const float* b,
                            int rows, int C, int rows_per_block, int approx) {
	CUDA_DYN_SMEM(float, smem);
	float* slabs = scratch != nullptr ? scratch + (size_t)blockIdx.x * (blockDim.x >> 5) * 2 * C : smem;
	ln_bwd(dx, part, slabs, dy, x, mean, rstd, w, b, rows, C, rows_per_block, approx);
}

// layernorm_bwd_reduce_f32 adds the partial rows part [T, 2C] of the
// backward kernels to the parameter gradients in row order:
// dw[c] += Σ_t part[t][c], db[c] += Σ_t part[t][C + c].
//
// Launch: block (32, Y) with Y <= 32, grid ceil(2C/32); thread (i, j) of
// block k sums column 32·k + i over rows j, j + Y, ... (coalesced along the
// row), then thread (i, 0) adds the Y sums in order. The result depends on
// Y but not on scheduling. Traffic: 8·C·T B read, 8·C B read and written.
extern "C" __global__ void __launch_bounds__(1024)
    layernorm_bwd_reduce_f32(float* dw, float* db, const float* part, int T, int C) {
	__shared__ float sums[32][33];
	const int j = blockIdx.x * 32 + threadIdx.x;
	float s = 0.0f;
	if (j < 2 * C) {
		for (int t = threadIdx.y; t < T; t += blockDim.y) {
			s += part[(size_t)t * 2 * C + j];
		}
	}
	sums[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && j < 2 * C) {
		float total = 0.0f;
		for (int k = 0; k < (int)blockDim.y; k++) {
			total += sums[k][threadIdx.x];
		}
		if (j < C) {
			dw[j] += total;
		} else {
			db[j - C] += total;
		}
	}
}
