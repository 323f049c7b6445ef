// fakequant.cu: fake quantization for quantization-aware training
// (kernels.QuantOps): PyTorch's per-channel affine fake quant in float32
// (aten FakeQuantizeCore.cu; docs/QAT.md A1.4), its straight-through
// backward, the learnable-quantizer (LSQ) gradients of scale and zero point
// (A1.5), and the per-channel min/max that observers read.
//
// A tensor is seen as [outer, C, inner]: element (o, c, i) at
// (o·C + c)·inner + i, with scale[c] and zero_point[c]. Per tensor is C = 1;
// weights per output channel are outer = 1; NHWC activations per channel
// are inner = 1.
//
// Per element, with s = scale[c] raised to min_scale (0: no floor),
// z = clamp(rint(zero_point[c]), qmin, qmax):
//
//	q = rint(x·(1/s)) + z    (1/s and the product rounded to float, ties to even)
//	y = (clamp(q, qmin, qmax) − z)·s,   mask = qmin ≤ q ≤ qmax
//
// q is exact in float for the grids kernels.QuantShape allows (|qmin|,
// |qmax| ≤ 2^16). A NaN x gives a NaN y, mask 0 and NaN scale and
// zero-point gradients for its channel, so a diverged activation stays
// visible (PyTorch's result depends on its int64 cast of NaN); ±Inf
// saturates to the grid's ends. The products are written __fmul_rn so
// that nvcc cannot contract them into an FMA with the following subtraction:
// the CPU backend rounds each step, and so does PyTorch.
//
// Reductions (LSQ sums, min/max) are two passes with no atomics: a partial
// pass writes one value per (channel, chunk) and a reduce pass combines them
// per channel in a fixed order, so results are deterministic. The partial
// pass has two layouts chosen by the launcher:
//   runs:    grid (P, C), block 256; block (p, c) walks chunk p of channel
//            c's outer·inner elements. Coalesced when inner ≥ 32 or C = 1
//            (weights, per-tensor activations). part[k·C·P + c·P + p].
//   columns: grid (ceil(L/32), P), block (32, 8), L = C·inner; thread x
//            takes column bx·32 + x of a row, threads y rows of chunk p.
//            Coalesced for inner < 32 (NHWC per-channel activations).
//            part[k·P·L + p·L + col].
// (k = 0, 1: dscale/dzero_point terms, or min/max.) The reduce kernels read
// both layouts through (strideP, strideC, inner) strides.
#include "reduce.cuh"

#define FQ_THREADS 256 // block size of the 1-D kernels
#define FQ_ROWS 8      // blockDim.y of the column kernels

// fq_scale returns channel c's scale raised to min_scale; a NaN stays NaN.
static __device__ __forceinline__ float fq_scale(const float* scale, int c, float min_scale) {
	const float s = scale[c];
	return s < min_scale ? min_scale : s;
}

// fq_zero returns channel c's zero point rounded to the nearest integer
// (ties to even) and clamped to [qmin, qmax].
static __device__ __forceinline__ float fq_zero(const float* zp, int c, float qmin, float qmax) {
	return fminf(fmaxf(rintf(zp[c]), qmin), qmax);
}

// fq_clamp returns q clamped to [qmin, qmax]; NaN stays NaN.
static __device__ __forceinline__ float fq_clamp(float q, float qmin, float qmax) {
	return q != q ? q : fminf(fmaxf(q, qmin), qmax);
}

// fq_lsq adds element (x, dy)'s LSQ terms to ds and dz and returns its
// straight-through gradient dy·mask.
static __device__ __forceinline__ float fq_lsq(float x, float dy, float s, float inv, float z, float qmin, float qmax,
					      float& ds, float& dz) {
	const float q = rintf(__fmul_rn(x, inv)) + z;
	if (q != q) { // NaN x: poison the channel's sums
		ds += q;
		dz += q;
		return 0.0f;
	}
	if (q >= qmin && q <= qmax) {
		const float y = __fmul_rn(q - z, s);
		ds += dy * __fmul_rn(y - x, inv);
		return dy;
	}
	ds += dy * (q > qmax ? qmax - z : qmin - z);
	dz -= dy * s;
	return 0.0f;
}

// nan_min and nan_max propagate NaN: once either operand is NaN, so is the
// result (fminf/fmaxf would drop it).
static __device__ __forceinline__ float nan_min(float a, float b) { return (b < a || b != b) ? b : a; }
static __device__ __forceinline__ float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

// fakequant_fwd_f32 writes y = fake_quant(x) for x, y [outer, C, inner]
// (n = outer·C·inner elements); y may alias x.
// Launch: 1-D grid-stride, block 256, grid ≤ 4096 blocks. Traffic: 8 B per
// element (scale and zero_point stay in L1); ~6 FLOPs and one division per
// element (the reciprocal is recomputed: cheaper than a second pass).
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    fakequant_fwd_f32(float* y, const float* x, const float* scale, const float* zero_point, int n, int C, int inner,
		      float qmin, float qmax, float min_scale) {
	const size_t stride = (size_t)gridDim.x * blockDim.x;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n; i += stride) {
		const int c = (int)((i / (size_t)inner) % (size_t)C);
		const float s = fq_scale(scale, c, min_scale);
		const float z = fq_zero(zero_point, c, qmin, qmax);
		const float q = rintf(__fmul_rn(x[i], 1.0f / s)) + z;
		y[i] = __fmul_rn(fq_clamp(q, qmin, qmax) - z, s);
	}
}

// fakequant_bwd_f32 writes the straight-through gradient dx = dy·mask for
// x, dy, dx [outer, C, inner]; dx may alias dy.
// Launch and traffic as fakequant_fwd_f32 (12 B per element).
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    fakequant_bwd_f32(float* dx, const float* dy, const float* x, const float* scale, const float* zero_point, int n, int C,
		      int inner, float qmin, float qmax, float min_scale) {
	const size_t stride = (size_t)gridDim.x * blockDim.x;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n; i += stride) {
		const int c = (int)((i / (size_t)inner) % (size_t)C);
		const float s = fq_scale(scale, c, min_scale);
		const float z = fq_zero(zero_point, c, qmin, qmax);
		const float q = rintf(__fmul_rn(x[i], 1.0f / s)) + z;
		dx[i] = (q >= qmin && q <= qmax) ? dy[i] : 0.0f;
	}
}

// block_minmax returns (min a, max b) over a 1-D block of FQ_THREADS threads
// to thread 0, with NaN propagation, in the order of block_sum2 (reduce.cuh),
// using red [FQ_THREADS/32] of the caller's shared memory.
static __device__ __forceinline__ float2 block_minmax(float a, float b, float2* red) {
	for (int o = 16; o > 0; o >>= 1) {
		a = nan_min(a, __shfl_xor_sync(0xffffffffu, a, o));
		b = nan_max(b, __shfl_xor_sync(0xffffffffu, b, o));
	}
	if ((threadIdx.x & 31) == 0) {
		red[threadIdx.x >> 5] = make_float2(a, b);
	}
	__syncthreads();
	float2 t = red[0];
	if (threadIdx.x == 0) {
		for (int k = 1; k < FQ_THREADS / 32; k++) {
			t.x = nan_min(t.x, red[k].x);
			t.y = nan_max(t.y, red[k].y);
		}
	}
	return t;
}

// fakequant_lsq_runs_f32: "runs" partial pass of the learnable backward.
// Writes dx = dy·mask (when dx is not null) and, per (channel c, chunk p),
// part[c·P + p] = Σ dscale terms, part[C·P + c·P + p] = Σ dzero_point terms
// (unscaled by the gradient factor) over elements j ∈ [p·chunk,
// min((p+1)·chunk, outer·inner)) of channel c (j = o·inner + i).
// Launch: block 256, grid (P, C). Traffic: 12 B per element (8 without dx).
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    fakequant_lsq_runs_f32(float* dx, float* part, const float* dy, const float* x, const float* scale,
			   const float* zero_point, int outer, int C, int inner, float qmin, float qmax, float min_scale,
			   int chunk) {
	__shared__ float2 red[FQ_THREADS / 32];
	const int c = blockIdx.y, p = blockIdx.x, P = gridDim.x;
	const float s = fq_scale(scale, c, min_scale);
	const float inv = 1.0f / s;
	const float z = fq_zero(zero_point, c, qmin, qmax);
	const int m = outer * inner;
	const int j1 = min((p + 1) * chunk, m);
	float ds = 0.0f, dz = 0.0f;
	for (int j = p * chunk + (int)threadIdx.x; j < j1; j += FQ_THREADS) {
		const int o = j / inner;
		const size_t at = ((size_t)o * C + c) * inner + (j - o * inner);
		const float g = fq_lsq(x[at], dy[at], s, inv, z, qmin, qmax, ds, dz);
		if (dx) {
			dx[at] = g;
		}
	}
	const float2 t = block_sum2(ds, dz, red);
	if (threadIdx.x == 0) {
		part[(size_t)c * P + p] = t.x;
		part[(size_t)C * P + (size_t)c * P + p] = t.y;
	}
}

// fakequant_lsq_cols_f32: "columns" partial pass of the learnable backward
// for x [outer, L = C·inner]. Writes dx as fakequant_lsq_runs_f32 and, per
// (chunk p, column col), part[p·L + col] and part[P·L + p·L + col] = the
// dscale and dzero_point terms of rows [p·chunk, min((p+1)·chunk, outer)).
// Launch: block (32, 8), grid (ceil(L/32), P). Traffic as the runs pass.
extern "C" __global__ void __launch_bounds__(32 * FQ_ROWS)
    fakequant_lsq_cols_f32(float* dx, float* part, const float* dy, const float* x, const float* scale,
			   const float* zero_point, int outer, int C, int inner, float qmin, float qmax, float min_scale,
			   int chunk) {
	__shared__ float2 red[FQ_ROWS][32];
	const int L = C * inner, P = gridDim.y, p = blockIdx.y;
	const int col = blockIdx.x * 32 + threadIdx.x;
	float ds = 0.0f, dz = 0.0f;
	if (col < L) {
		const int c = col / inner;
		const float s = fq_scale(scale, c, min_scale);
		const float inv = 1.0f / s;
		const float z = fq_zero(zero_point, c, qmin, qmax);
		const int r1 = min((p + 1) * chunk, outer);
		for (int r = p * chunk + (int)threadIdx.y; r < r1; r += FQ_ROWS) {
			const size_t at = (size_t)r * L + col;
			const float g = fq_lsq(x[at], dy[at], s, inv, z, qmin, qmax, ds, dz);
			if (dx) {
				dx[at] = g;
			}
		}
	}
	red[threadIdx.y][threadIdx.x] = make_float2(ds, dz);
	__syncthreads();
	if (threadIdx.y == 0 && col < L) {
		float2 t = red[0][threadIdx.x];
		for (int k = 1; k < FQ_ROWS; k++) {
			t.x += red[k][threadIdx.x].x;
			t.y += red[k][threadIdx.x].y;
		}
		part[(size_t)p * L + col] = t.x;
		part[(size_t)P * L + (size_t)p * L + col] = t.y;
	}
}

// fakequant_lsq_reduce_f32 accumulates dscale[c] += g·Σ and dzero_point[c]
// += g·Σ (each when not null) over the partials of channel c: terms
// part[p·strideP + c·strideC + i] for p < P, i < inner, and the same at
// offset half for the zero point. Sums in double, in a fixed order.
// Launch: block 256, grid C. Traffic: 8·P·inner B per channel.
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    fakequant_lsq_reduce_f32(float* dscale, float* dzero_point, const float* part, int P, int inner, int strideP,
			     int strideC, int half, float g) {
	__shared__ double red[2][FQ_THREADS];
	const int c = blockIdx.x, terms = P * inner;
	double a = 0.0, b = 0.0;
	for (int k = threadIdx.x; k < terms; k += FQ_THREADS) {
		const int p = k / inner;
		const size_t at = (size_t)p * strideP + (size_t)c * strideC + (k - p * inner);
		a += (double)part[at];
		b += (double)part[(size_t)half + at];
	}
	red[0][threadIdx.x] = a;
	red[1][threadIdx.x] = b;
	__syncthreads();
	for (int w = FQ_THREADS / 2; w > 0; w >>= 1) {
		if ((int)threadIdx.x < w) {
			red[0][threadIdx.x] += red[0][threadIdx.x + w];
			red[1][threadIdx.x] += red[1][threadIdx.x + w];
		}
		__syncthreads();
	}
	if (threadIdx.x == 0) {
		if (dscale) {
			dscale[c] += (float)((double)g * red[0][0]);
		}
		if (dzero_point) {
			dzero_point[c] += (float)((double)g * red[1][0]);
		}
	}
}

// minmax_runs_f32: "runs" partial pass of MinMax: part[c·P + p] = min and
// part[C·P + c·P + p] = max of chunk p of channel c (NaN propagates).
// Launch: block 256, grid (P, C). Traffic: 4 B per element.
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    minmax_runs_f32(float* part, const float* x, int outer, int C, int inner, int chunk) {
	__shared__ float2 red[FQ_THREADS / 32];
	const int c = blockIdx.y, p = blockIdx.x, P = gridDim.x;
	const int m = outer * inner;
	const int j1 = min((p + 1) * chunk, m);
	float lo = __int_as_float(0x7f800000), hi = -__int_as_float(0x7f800000);
	for (int j = p * chunk + (int)threadIdx.x; j < j1; j += FQ_THREADS) {
		const int o = j / inner;
		const float v = x[((size_t)o * C + c) * inner + (j - o * inner)];
		lo = nan_min(lo, v);
		hi = nan_max(hi, v);
	}
	const float2 t = block_minmax(lo, hi, red);
	if (threadIdx.x == 0) {
		part[(size_t)c * P + p] = t.x;
		part[(size_t)C * P + (size_t)c * P + p] = t.y;
	}
}

// minmax_cols_f32: "columns" partial pass of MinMax for x [outer, L]:
// part[p·L + col] = min and part[P·L + p·L + col] = max of column col over
// rows [p·chunk, min((p+1)·chunk, outer)).
// Launch: block (32, 8), grid (ceil(L/32), P). Traffic: 4 B per element.
extern "C" __global__ void __launch_bounds__(32 * FQ_ROWS)
    minmax_cols_f32(float* part, const float* x, int outer, int L, int chunk) {
	__shared__ float2 red[FQ_ROWS][32];
	const int P = gridDim.y, p = blockIdx.y;
	const int col = blockIdx.x * 32 + threadIdx.x;
	float lo = __int_as_float(0x7f800000), hi = -__int_as_float(0x7f800000);
	if (col < L) {
		const int r1 = min((p + 1) * chunk, outer);
		for (int r = p * chunk + (int)threadIdx.y; r < r1; r += FQ_ROWS) {
			const float v = x[(size_t)r * L + col];
			lo = nan_min(lo, v);
			hi = nan_max(hi, v);
		}
	}
	red[threadIdx.y][threadIdx.x] = make_float2(lo, hi);
	__syncthreads();
	if (threadIdx.y == 0 && col < L) {
		float2 t = red[0][threadIdx.x];
		for (int k = 1; k < FQ_ROWS; k++) {
			t.x = nan_min(t.x, red[k][threadIdx.x].x);
			t.y = nan_max(t.y, red[k][threadIdx.x].y);
		}
		part[(size_t)p * L + col] = t.x;
		part[(size_t)P * L + (size_t)p * L + col] = t.y;
	}
}

// minmax_reduce_f32 writes mn[c] and mx[c], the min and max over channel
// c's partials (addressed as in fakequant_lsq_reduce_f32), NaN propagating.
// Launch: block 256, grid C.
extern "C" __global__ void __launch_bounds__(FQ_THREADS)
    minmax_reduce_f32(float* mn, float* mx, const float* part, int P, int inner, int strideP, int strideC, int half) {
	__shared__ float2 red[FQ_THREADS / 32];
	const int c = blockIdx.x, terms = P * inner;
	float lo = __int_as_float(0x7f800000), hi = -__int_as_float(0x7f800000);
	for (int k = threadIdx.x; k < terms; k += FQ_THREADS) {
		const int p = k / inner;
		const size_t at = (size_t)p * strideP + (size_t)c * strideC + (k - p * inner);
		lo = nan_min(lo, part[at]);
		hi = nan_max(hi, part[(size_t)half + at]);
	}
	const float2 t = block_minmax(lo, hi, red);
	if (threadIdx.x == 0) {
		mn[c] = t.x;
		mx[c] = t.y;
	}
}
