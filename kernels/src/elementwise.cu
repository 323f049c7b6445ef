// elementwise.cu: the streaming ops of kernels.ElementwiseOps (residual adds,
// drop path, layer scale, gradient-norm clipping, EMA), float32 tensors.
//
// Conventions shared by every kernel here:
//   - Element counts are int (the launcher rejects tensors of 2^31 or more
//     elements); loop indices are unsigned so that i + stride cannot
//     overflow before the bound check (stride < 2^31, n < 2^31).
//   - Streaming kernels are grid-stride loops: one element per thread per
//     iteration, launched as 1-D grids of 256 threads and at most 4096
//     blocks (the launcher's choice). Outputs may alias inputs: each element
//     is read and written by the same thread, and no pointer is __restrict__.
//   - Loads are plain 4-byte loads. Warps touch consecutive elements, so
//     every access is coalesced into full 128-byte lines.
//   - Where the CPU reference computes in float64 (Scale, EMA and every
//     reduction) the kernels do too, rounding to float once, so the results
//     agree with kernels/cpu to within an ulp (usually bit for bit; nvcc may
//     contract double a*b+c into an FMA, the simulator does not).
#include "bf16.cuh"
#include "reduce.cuh"

// add_f32: y[i] = a[i] + b[i] for i < n. y may alias a or b.
// Geometry: 1-D grid-stride, any grid. Traffic: 12 bytes/element, 1 FLOP.
extern "C" __global__ void add_f32(float* y, const float* a, const float* b, int n) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		y[i] = a[i] + b[i];
	}
}

// scale_f32: y[i] = (float)(alpha·(double)x[i]) for i < n, the CPU's
// float64 product rounded once. y may alias x.
// Geometry: 1-D grid-stride. Traffic: 8 bytes/element, 1 FP64 multiply.
extern "C" __global__ void scale_f32(float* y, const float* x, double alpha, int n) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		y[i] = (float)(alpha * (double)x[i]);
	}
}

// scale_samples_f32: y[s·per + i] = scale[s]·x[s·per + i] (float product)
// for s < samples, i < per: drop path's per-sample factor. y may alias x.
// Geometry: 2-D: blockIdx.x grid-strides over a sample's per elements,
// blockIdx.y (gridDim.y <= 65535) strides over samples, so no thread
// divides. Traffic: 8 bytes/element, 1 FLOP.
extern "C" __global__ void scale_samples_f32(float* y, const float* x, const float* scale, int per, int samples) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned s = blockIdx.y; s < (unsigned)samples; s += gridDim.y) {
		const float k = scale[s];
		const size_t base = (size_t)s * (unsigned)per;
		for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)per; i += stride) {
			y[base + i] = k * x[base + i];
		}
	}
}

// channel_scale_f32: y[r, c] = gamma[c]·x[r, c] over n = rows·C elements
// (ConvNeXt V1 layer scale on NHWC, C contiguous). y may alias x.
// Geometry: 1-D grid-stride; c = i mod C (a 32-bit remainder per element).
// Traffic: 8 bytes/element (gamma stays in L1), 1 FLOP.
extern "C" __global__ void channel_scale_f32(float* y, const float* x, const float* gamma, int n, int C) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		y[i] = gamma[i % (unsigned)C] * x[i];
	}
}

// add_bf16, scale_samples_bf16 and channel_scale_bf16 are add_f32,
// scale_samples_f32 and channel_scale_f32 on bf16 activations (float32
// arithmetic, one rounding to nearest even per output element; scale and
// gamma stay float32). Geometry: 1-D grid-stride over 8-element groups
// (map_bf16, bf16.cuh); scale_samples_bf16 strides over samples along
// blockIdx.y as scale_samples_f32 does. Traffic: 6 and 4 bytes/element.
extern "C" __global__ void add_bf16(__nv_bfloat16* y, const __nv_bfloat16* a, const __nv_bfloat16* b, int n) {
	map_bf16(y, a, b, n, [](float u, float v, long long) { return u + v; });
}

extern "C" __global__ void scale_samples_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, const float* scale, int per, int samples) {
	for (unsigned s = blockIdx.y; s < (unsigned)samples; s += gridDim.y) {
		const float k = scale[s];
		const size_t base = (size_t)s * (unsigned)per;
		map_bf16(y + base, x + base, nullptr, per, [k](float v, float, long long) { return k * v; });
	}
}

extern "C" __global__ void channel_scale_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, const float* gamma, int n, int C) {
	map_bf16(y, x, nullptr, n, [gamma, C](float v, float, long long i) { return gamma[(unsigned)i % (unsigned)C] * v; });
}

// channel_scale_bwd_f32: the first pass of ChannelScaleBackward over
// dy, x, dx [rows, C] and gamma [C]. It writes dx = gamma·dy (float) and the
// partial sums partial[chunk·C + c] = Σ dy[r, c]·x[r, c] over the rows
// [chunk·rows_per_chunk, (chunk+1)·rows_per_chunk) of each chunk, in
// float64 (the products of two floats are exact in double). dx may alias dy
// or x. channel_scale_dgamma_f32 then adds the partials to dgamma in chunk
// order, so the result is deterministic and independent of timing.
// Geometry: block 256 threads; blockIdx.x is a tile of `width` channels
// [tile·width, tile·width + width) ∩ [0, C), blockIdx.y a chunk of rows.
// With rpp = 256/width rows per pass, thread t < rpp·width owns channel
// tile·width + t % width and rows r ≡ t / width (mod rpp) of the chunk, so a
// warp reads consecutive addresses (whole rows when width = C). The rpp
// per-thread sums of a channel are added in shared memory in row order.
// Traffic: 12 bytes/element + 8·C bytes per chunk; 1 FP32 + 2 FP64 FLOPs.
template <class T>
static __device__ __forceinline__ void channel_scale_bwd(T* dx, double* partial, const T* dy, const T* x, const float* gamma,
	int rows, int C, int width, int rows_per_chunk) {
	__shared__ double sums[256];
	const int rpp = 256 / width;
	const int t = threadIdx.x;
	const int j = t / width;
	const int c = blockIdx.x * width + t % width;
	const int r0 = blockIdx.y * rows_per_chunk;
	const int r1 = min(rows, r0 + rows_per_chunk);
	double acc = 0.0;
	if (j < rpp && c < C) {
		const float g = gamma[c];
		for (int r = r0 + j; r < r1; r += rpp) {
			const size_t i = (size_t)r * C + c;
			const float d = ld_f32(dy, i);
			acc += (double)d * (double)ld_f32(x, i);
			st_f32(dx, i, g * d);
		}
	}
	sums[t] = acc;
	__syncthreads();
	if (t < width && c < C) {
		double s = 0.0;
		for (int k = 0; k < rpp; k++) s += sums[k * width + t];
		partial[(size_t)blockIdx.y * C + c] = s;
	}
}

extern "C" __global__ void __launch_bounds__(256) channel_scale_bwd_f32(float* dx, double* partial, const float* dy,
	const float* x, const float* gamma, int rows, int C, int width, int rows_per_chunk) {
	channel_scale_bwd(dx, partial, dy, x, gamma, rows, C, width, rows_per_chunk);
}

// channel_scale_bwd_bf16 is channel_scale_bwd_f32 on bf16 dx, dy and x
// (float32 gamma, float64 partials; dx rounded once), the backward of V1's
// layer scale in bf16. Traffic: 6 bytes/element + 8·C bytes per chunk.
extern "C" __global__ void __launch_bounds__(256) channel_scale_bwd_bf16(__nv_bfloat16* dx, double* partial, const __nv_bfloat16* dy,
	const __nv_bfloat16* x, const float* gamma, int rows, int C, int width, int rows_per_chunk) {
	channel_scale_bwd(dx, partial, dy, x, gamma, rows, C, width, rows_per_chunk);
}

// channel_scale_dgamma_f32: dgamma[c] = (float)((double)dgamma[c] + Σ_k
// partial[k·C + c]) over k < chunks in order: the second pass of
// ChannelScaleBackward (accumulates, as parameter gradients do).
// Geometry: 1-D, one thread per channel (grid covers C).
extern "C" __global__ void channel_scale_dgamma_f32(float* dgamma, const double* partial, int chunks, int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		double s = 0.0;
		for (int k = 0; k < chunks; k++) s += partial[(size_t)k * C + c];
		dgamma[c] = (float)((double)dgamma[c] + s);
	}
}

// sum_squares_partial_f32: partial[blockIdx.x] = Σ (double)x[i]² over the
// elements i ≡ blockIdx.x·blockDim.x + threadIdx.x (mod gridDim.x·blockDim.x),
// i < n: the first pass of SumSquares. Deterministic for a given geometry
// (per-thread sums in index order, then ew_block_sum).
// Geometry: 1-D grid-stride, blockDim.x a multiple of 32 (256), gridDim.x
// chosen from n alone (so the result depends on n only); a block barrier
// pair per block. Traffic: 4 bytes/element; 2 FP64 FLOPs.
extern "C" __global__ void __launch_bounds__(256) sum_squares_partial_f32(double* partial, const float* x, int n) {
	const unsigned stride = gridDim.x * blockDim.x;
	double acc = 0.0;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const double v = (double)x[i];
		acc += v * v;
	}
	acc = block_sum_f64(acc);
	if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// sum_squares_final_f64: out[0] = Σ partial[k] for k < count: the second
// pass of SumSquares, one block (blockDim.x a multiple of 32, 256) striding
// over the partials; the host reads out[0] back as a float64.
extern "C" __global__ void __launch_bounds__(256) sum_squares_final_f64(double* out, const double* partial, int count) {
	double acc = 0.0;
	for (int k = threadIdx.x; k < count; k += blockDim.x) acc += partial[k];
	acc = block_sum_f64(acc);
	if (threadIdx.x == 0) out[0] = acc;
}

// ema_f32: avg[i] = (float)(decay·(double)avg[i] + keep·(double)x[i]) with
// keep = 1 − decay computed on the host in float64 (timm's ModelEma, as the
// CPU backend computes it). Geometry: 1-D grid-stride. Traffic: 12
// bytes/element; 3 FP64 FLOPs.
extern "C" __global__ void ema_f32(float* avg, const float* x, double decay, double keep, int n) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		avg[i] = (float)(decay * (double)avg[i] + keep * (double)x[i]);
	}
}
