// Kernels that exercise warp shuffles, votes and __syncwarp in the
// simulator's self-tests (cuda/sim).
#include "compat.cuh"

// sim_shfl_table: every thread shuffles v = 7*t+3 with each mode (0 idx,
// 1 up, 2 down, 3 xor), width 1, 2, 4, ..., 32 and operand b in 0..nb-1, and
// writes the result to out[((mode*6 + log2(width))*nb + b)*blockDim.x + t].
extern "C" __global__ void sim_shfl_table(int* out, int nb) {
	unsigned t = threadIdx.x;
	int v = (int)t * 7 + 3;
	size_t idx = 0;
	for (int mode = 0; mode < 4; mode++) {
		for (int w = 1; w <= 32; w *= 2) {
			for (int b = 0; b < nb; b++) {
				int r;
				switch (mode) {
				case 0:
					r = __shfl_sync(0xffffffffu, v, b, w);
					break;
				case 1:
					r = __shfl_up_sync(0xffffffffu, v, (unsigned)b, w);
					break;
				case 2:
					r = __shfl_down_sync(0xffffffffu, v, (unsigned)b, w);
					break;
				default:
					r = __shfl_xor_sync(0xffffffffu, v, b, w);
					break;
				}
				out[idx * blockDim.x + t] = r;
				idx++;
			}
		}
	}
}

// sim_shfl_types shuffles 64-bit integers, doubles and floats with the
// default width, and sums t over each warp with an xor butterfly.
extern "C" __global__ void sim_shfl_types(long long* out64, double* outd, float* outf, int* sums) {
	unsigned t = threadIdx.x;
	long long v = ((long long)t << 40) | (long long)t;
	out64[t] = __shfl_xor_sync(0xffffffffu, v, 5);
	outd[t] = __shfl_down_sync(0xffffffffu, (double)t + 0.5, 3);
	outf[t] = __shfl_sync(0xffffffffu, (float)t * 1.5f, 31 - (int)(t % 32));
	int s = (int)t;
	for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
	sums[t] = s;
}

// sim_vote writes, per thread, __ballot_sync, __any_sync and __all_sync of
// p = (t % mod == r), and __all_sync(1).
extern "C" __global__ void sim_vote(unsigned* out, int mod, int r) {
	unsigned t = threadIdx.x;
	int p = (int)(t % (unsigned)mod) == r;
	unsigned b = __ballot_sync(0xffffffffu, p);
	int any = __any_sync(0xffffffffu, p);
	int all = __all_sync(0xffffffffu, p);
	int all1 = __all_sync(0xffffffffu, 1);
	unsigned* o = out + 4 * t;
	o[0] = b;
	o[1] = (unsigned)any;
	o[2] = (unsigned)all;
	o[3] = (unsigned)all1;
}

// sim_warp_reduce_smem sums each warp's slice of in through shared memory,
// with __syncwarp between the steps: out[block*warps + warp].
extern "C" __global__ void sim_warp_reduce_smem(float* out, const float* in) {
	__shared__ float s[256];
	unsigned t = threadIdx.x, lane = t % 32, w = t / 32;
	s[t] = in[blockIdx.x * blockDim.x + t];
	__syncwarp();
	for (unsigned off = 16; off > 0; off /= 2) {
		float v = 0.0f;
		if (lane < off) v = s[t + off];
		__syncwarp();
		if (lane < off) s[t] += v;
		__syncwarp();
	}
	if (lane == 0) out[blockIdx.x * (blockDim.x / 32) + w] = s[t];
}

// sim_mask_excludes_self: lane 3 is not in the mask it passes (a bug).
extern "C" __global__ void sim_mask_excludes_self(int* out) {
	out[threadIdx.x] = __shfl_sync(0xfffffff7u, (int)threadIdx.x, 0);
}

// sim_mask_mismatch: the lanes of a warp pass different masks (a bug).
extern "C" __global__ void sim_mask_mismatch(int* out) {
	unsigned mask = threadIdx.x < 16 ? 0xffffffffu : 0xfffffffeu;
	out[threadIdx.x] = __shfl_xor_sync(mask, (int)threadIdx.x, 1);
}

// sim_shfl_exited: lanes 24..31 return, then lanes 16..23 read them (a bug).
extern "C" __global__ void sim_shfl_exited(int* out) {
	if (threadIdx.x >= 24) return;
	out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 8);
}

// sim_warp_divergent calls the same shuffle from two call sites.
extern "C" __global__ void sim_warp_divergent(int* out) {
	int v = (int)threadIdx.x;
	if (threadIdx.x % 2) {
		v = __shfl_xor_sync(0xffffffffu, v, 1);  // SITE_E
	} else {
		v = __shfl_xor_sync(0xffffffffu, v, 1);  // SITE_F
	}
	out[threadIdx.x] = v;
}

// sim_bad_width shuffles with a width that is not a power of two (a bug).
extern "C" __global__ void sim_bad_width(int* out) {
	out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1, 12);
}
