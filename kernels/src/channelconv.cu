// channelconv.cu: ECA's 1-D convolution across the channels of pooled
// features (Wang et al. 2020; nn.Conv1d(1, 1, K, padding=(K−1)/2,
// bias=False) on [N, 1, C]), x, y [N, C], w [K], and its backward. float32
// tensors, float64 sums like kernels/cpu.
#include "compat.cuh"

// channel_conv_f32: y[n, c] = (float)Σ_j w[j]·x[n, c + j − P] (flip 0), or
// Σ_j w[j]·x[n, c − j + P] (flip 1: the input gradient, x = dy), with zero
// padding P = (K−1)/2; taps in j order, in float64. y must not alias x.
// Geometry: 1-D, one thread per output (grid covers N·C). Traffic: the N·C
// pooled values, K FP64 multiply-adds each; w and the row stay in cache.
extern "C" __global__ void channel_conv_f32(float* y, const float* x, const float* w, int N, int C, int K, int flip) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o >= (unsigned)N * (unsigned)C) return;
	const int n = (int)(o / (unsigned)C), c = (int)(o % (unsigned)C);
	const int P = (K - 1) / 2;
	const float* xn = x + (size_t)n * C;
	double sum = 0.0;
	for (int j = 0; j < K; j++) {
		const int i = flip ? c - j + P : c + j - P;
		if (i >= 0 && i < C) sum += (double)w[j] * (double)xn[i];
	}
	y[o] = (float)sum;
}

// cconv_block_sum returns the sum of v over the block to thread 0, in a
// fixed order (a warp shuffle tree, then the warp sums in warp order).
// blockDim.x must be a multiple of 32 and at most 1024.
static __device__ double cconv_block_sum(double v) {
	__shared__ double warp_sums[32];
	for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
	if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = v;
	__syncthreads();
	double s = 0.0;
	if (threadIdx.x == 0) {
		for (unsigned k = 0; k < (blockDim.x >> 5); k++) s += warp_sums[k];
	}
	return s;
}

// channel_conv_bwd_w_f32: dw[j] += (float)Σ_{n,c} dy[n, c]·x[n, c + j − P]
// for the tap j = blockIdx.x, in float64.
// Geometry: one block per tap (gridDim.x = K), blockDim.x a multiple of 32;
// thread t sums outputs t, t + blockDim.x, ... in order, then the block
// reduces in a fixed order, so the result depends only on the launch
// geometry. Traffic: 8 bytes per output and tap.
extern "C" __global__ void channel_conv_bwd_w_f32(float* dw, const float* dy, const float* x, int N, int C, int K) {
	const int j = blockIdx.x;
	const int P = (K - 1) / 2;
	const unsigned total = (unsigned)N * (unsigned)C;
	double acc = 0.0;
	for (unsigned o = threadIdx.x; o < total; o += blockDim.x) {
		const int c = (int)(o % (unsigned)C);
		const int i = c + j - P;
		if (i >= 0 && i < C) acc += (double)dy[o] * (double)x[o - c + i];
	}
	acc = cconv_block_sum(acc);
	if (threadIdx.x == 0) dw[j] += (float)acc;
}
