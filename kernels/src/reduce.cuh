// reduce.cuh: warp and block sums in a fixed order, shared by the kernels
// that reduce (layernorm.cu, grn.cu, mlp.cu, fakequant.cu, crossentropy.cu,
// elementwise.cu, fcmae.cu). Every sum is formed in an order that depends
// only on the launch geometry, so results never depend on scheduling.
#pragma once
#include "compat.cuh"

// warp_sum returns the sum of v over the 32 lanes to every lane (xor
// butterfly; the same order on every lane, so all lanes agree bit for bit).
// Every lane of the warp must call it.
static __device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) {
		v += __shfl_xor_sync(0xffffffffu, v, o);
	}
	return v;
}

// block_sum2 returns (Σ a, Σ b) over the block to every thread, in a fixed
// order (warp butterflies, then warps in order). red holds blockDim.x/32
// float2 of shared memory that the caller does not touch again before a
// barrier. blockDim.x must be a multiple of 32; every thread must call it.
static __device__ __forceinline__ float2 block_sum2(float a, float b, float2* red) {
	a = warp_sum(a);
	b = warp_sum(b);
	if ((threadIdx.x & 31) == 0) {
		red[threadIdx.x >> 5] = make_float2(a, b);
	}
	__syncthreads();
	float2 t = make_float2(0.0f, 0.0f);
	for (int k = 0; k < (int)(blockDim.x >> 5); k++) {
		t.x += red[k].x;
		t.y += red[k].y;
	}
	return t;
}

// block_sum_f64 returns the sum of v over the block to every thread, in a
// fixed order (a warp shuffle tree, then the warp sums in warp order).
// blockDim.x must be a multiple of 32 and at most 1024; every thread of the
// block must call it. Calls may follow one another without a barrier.
static __device__ __forceinline__ double block_sum_f64(double v) {
	__shared__ double warp_sums[32];
	for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
	__syncthreads();  // a previous call's readers are done with warp_sums
	if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = v;
	__syncthreads();
	double s = 0.0;
	const unsigned nw = blockDim.x >> 5;
	for (unsigned w = 0; w < nw; w++) s += warp_sums[w];
	return s;
}

// rows_sum returns, to the threads of row 0 (threadIdx.y == 0) of a
// (32, ROWS) block, the sum of s over the block's ROWS rows in column
// threadIdx.x, added in row order through sums (shared memory the caller
// does not touch again before a barrier); other threads get 0. It is the
// last step of the chunked per-channel statistics kernels (grn.cu,
// mlp.cu), whose threads run along the channels and whose rows take
// interleaved pixels. Every thread of the block must call it.
template <int ROWS>
static __device__ __forceinline__ float rows_sum(float s, float (&sums)[ROWS][32]) {
	sums[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	float t = 0.0f;
	if (threadIdx.y == 0) {
		for (int j = 0; j < ROWS; j++) {
			t += sums[j][threadIdx.x];
		}
	}
	return t;
}

#define STATS_VX 8 // blockDim.x of the 8-channel statistics kernels (64 channels a block)

// stats8 is what thread (i, j) of block (cx, k, n) of a chunked 8-channel
// statistics kernel over [N, HW, C] (block (STATS_VX, ROWS), grid
// (ceil(C/(8·STATS_VX)), chunks, N)) works on: its first channel c =
// 8·(STATS_VX·cx + i) (it owns c to c + 7 if c < C), its rows r0 =
// k·chunk + j, r0 + ROWS, ... below r1 = min((k + 1)·chunk, HW), base, the
// offset of element (n, 0, c), and part = n·chunks + k, the row of its
// chunk sums; stats8_at returns the calling thread's.
struct stats8 {
	int c, r0, r1;
	size_t base, part;
};

static __device__ __forceinline__ stats8 stats8_at(int HW, int C, int chunk) {
	stats8 t;
	t.c = 8 * (blockIdx.x * STATS_VX + threadIdx.x);
	t.r0 = (int)blockIdx.y * chunk + (int)threadIdx.y;
	t.r1 = min((int)(blockIdx.y + 1) * chunk, HW);
	t.base = (size_t)blockIdx.z * HW * C + t.c;
	t.part = (size_t)blockIdx.z * gridDim.y + blockIdx.y;
	return t;
}

// rows_sum8 is rows_sum for threads that own 8 channels each (the 16-byte
// vector statistics kernels), storing the sums: the threads of row 0 of a
// (X, ROWS) block for which own is true write p[q] = the sum of s[q] over
// the block's ROWS rows in column threadIdx.x, q < 8, added in row order,
// so every channel gets the bits rows_sum gives it. sums is shared memory
// laid out [row][q][column], so the 8 stores of a warp are each
// conflict-free, and the caller does not touch it again before a barrier.
// Every thread of the block must call it.
template <int ROWS, int X>
static __device__ __forceinline__ void rows_sum8(float* p, const float (&s)[8], float (&sums)[ROWS][8][X], bool own) {
#pragma unroll
	for (int q = 0; q < 8; q++) {
		sums[threadIdx.y][q][threadIdx.x] = s[q];
	}
	__syncthreads();
	if (threadIdx.y == 0 && own) {
#pragma unroll
		for (int q = 0; q < 8; q++) {
			float t = 0.0f;
			for (int j = 0; j < ROWS; j++) {
				t += sums[j][q][threadIdx.x];
			}
			p[q] = t;
		}
	}
}

// strided_sum returns Σ_{k < count} p[k·stride], added in order k = 0, 1,
// ...: the chunk sums of one channel that rows_sum wrote (stride C, or 2·C
// for interleaved pairs), or one channel's per-sample shares.
static __device__ __forceinline__ float strided_sum(const float* __restrict__ p, int count, size_t stride) {
	float s = 0.0f;
	for (int k = 0; k < count; k++) {
		s += p[(size_t)k * stride];
	}
	return s;
}
