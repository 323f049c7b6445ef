// pool.cu: global average pooling over the spatial positions of NHWC
// activations, x [N, HW, C] → y [N, C] (ConvNeXt's x.mean([-2, -1]) before
// the head), and its backward, on float32 or bf16 activations, float64
// sums like the CPU backend, so results agree with kernels/cpu to within an
// ulp.
#include "bf16.cuh"

// avgpool_fwd_f32: y[n, c] = (float)(Σ_hw (double)x[n, hw, c] / HW).
// Geometry: 1-D, one thread per output (n, c) (grid covers N·C; any block
// size); consecutive threads take consecutive channels, so each of the HW
// steps is a coalesced row read. There are no barriers: the pool runs once
// per step on a small tensor (batch 128 × 7·7 × 320 for Atto), where N·C
// threads are plenty. Traffic: 4·HW + 4 bytes per output; HW FP64 adds.
extern "C" __global__ void avgpool_fwd_f32(float* __restrict__ y, const float* __restrict__ x, int N, int HW, int C) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o < (unsigned)N * (unsigned)C) {
		const unsigned n = o / (unsigned)C, c = o % (unsigned)C;
		const float* xn = x + (size_t)n * HW * C + c;
		double acc = 0.0;
		for (int h = 0; h < HW; h++) acc += (double)xn[(size_t)h * C];
		y[o] = (float)(acc / (double)HW);
	}
}

// avgpool_bwd_f32: dx[n, hw, c] = (float)((double)dy[n, c] / HW), the
// gradient of avgpool_fwd_f32 (overwrites dx).
// Geometry: 1-D grid-stride over the N·HW·C elements of dx (256 threads,
// at most 4096 blocks). Traffic: 4 bytes/element written, dy re-read from
// cache; one FP64 division.
extern "C" __global__ void avgpool_bwd_f32(float* __restrict__ dx, const float* __restrict__ dy, int N, int HW, int C) {
	const unsigned n_el = (unsigned)N * (unsigned)HW * (unsigned)C;
	const unsigned per = (unsigned)HW * (unsigned)C;
	const unsigned stride = gridDim.x * blockDim.x;
	const double hw = (double)HW;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n_el; i += stride) {
		const unsigned n = i / per, c = i % (unsigned)C;
		dx[i] = (float)((double)dy[n * (unsigned)C + c] / hw);
	}
}

// avgpool_fwd_bf16 is avgpool_fwd_f32 on bf16 x and y (float64 sums as in
// float32, each output rounded to bf16 once, after the float rounding, as
// the CPU emulation does), 8 channels a thread: thread o takes sample
// o / G and channels [8·(o % G), +8) ∩ [0, C) with G = ceil(C/8), reading
// each of its HW rows with one 16-byte load when C is a multiple of 8 and
// x and y are 16-byte aligned (scalar loads otherwise). Each channel's sum
// runs over hw in order, as in float32.
//
// Launch: 1-D, ceil(N·G/256) blocks of 256.
extern "C" __global__ void avgpool_fwd_bf16(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ x, int N,
                                            int HW, int C) {
	const unsigned groups = ((unsigned)C + 7) / 8;
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o >= (unsigned)N * groups) {
		return;
	}
	const unsigned n = o / groups, c0 = 8 * (o % groups);
	const __nv_bfloat16* xn = x + (size_t)n * HW * C;
	if (C % 8 == 0 && aligned16(x) && aligned16(y)) {
		double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
		for (int h = 0; h < HW; h++) {
			float v[8];
			ld8(xn, (long long)h * C + c0, v);
#pragma unroll
			for (int k = 0; k < 8; k++) acc[k] += (double)v[k];
		}
		float out[8];
#pragma unroll
		for (int k = 0; k < 8; k++) out[k] = (float)(acc[k] / (double)HW);
		st8(y, (long long)n * C + c0, out);
		return;
	}
	const unsigned c1 = c0 + 8 < (unsigned)C ? c0 + 8 : (unsigned)C;
	for (unsigned c = c0; c < c1; c++) {
		double acc = 0.0;
		for (int h = 0; h < HW; h++) acc += (double)ld_f32(xn, (size_t)h * C + c);
		st_f32(y, (size_t)n * C + c, (float)(acc / (double)HW));
	}
}

// avgpool_bwd_bf16 is avgpool_bwd_f32 on bf16 dx and dy, 8 elements of dx
// a thread in a grid-stride loop: one 16-byte store when dx is 16-byte
// aligned and the group is whole, scalar stores otherwise. Any 1-D grid
// works; ceil(N·HW·C/8) threads in all are enough.
extern "C" __global__ void avgpool_bwd_bf16(__nv_bfloat16* __restrict__ dx, const __nv_bfloat16* __restrict__ dy, int N,
                                            int HW, int C) {
	const long long n_el = (long long)N * HW * C;
	const long long per = (long long)HW * C;
	const long long stride = (long long)gridDim.x * blockDim.x;
	const double hw = (double)HW;
	const bool vec = aligned16(dx);
	for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; 8 * g < n_el; g += stride) {
		const long long i0 = 8 * g;
		float out[8];
#pragma unroll
		for (int k = 0; k < 8; k++) {
			const long long i = i0 + k < n_el ? i0 + k : n_el - 1;
			out[k] = (float)((double)ld_f32(dy, (i / per) * C + i % C) / hw);
		}
		if (vec && i0 + 8 <= n_el) {
			st8(dx, i0, out);
		} else {
			for (int k = 0; k < 8 && i0 + k < n_el; k++) st_f32(dx, i0 + k, out[k]);
		}
	}
}
