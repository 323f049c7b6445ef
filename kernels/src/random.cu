// random.cu: random draws on the device from the counter-based generator
// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as
// 1, 2, 3", section 4; cuRAND's and PyTorch's generator). internal/philox
// is the same function in Go, checked against Random123's known answers;
// the CPU backend draws through it, so both backends make the same draws
// for the same (seed, counter).
//
// Block c of the stream of seed s is philox4x32_10(key = (s_lo, s_hi),
// counter = (c_lo, c_hi, 0, 0)). 64-bit seeds and counters are passed as
// two unsigned halves (cuda.Driver passes unsigned 32-bit words exactly).
#include "compat.cuh"

// philox_round: one Philox4x32 round on counter c with key (k0, k1): the
// two 32×32→64-bit products of c[0] and c[2] by the round multipliers,
// their high halves xored into the other words.
static __device__ void philox_round(unsigned c[4], unsigned k0, unsigned k1) {
	const unsigned long long p0 = 0xD2511F53ull * c[0];
	const unsigned long long p1 = 0xCD9E8D57ull * c[2];
	const unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0;
	const unsigned hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;
	const unsigned c1 = c[1], c3 = c[3];
	c[0] = hi1 ^ c1 ^ k0;
	c[1] = lo1;
	c[2] = hi0 ^ c3 ^ k1;
	c[3] = lo0;
}

// philox4x32_10 overwrites c with its ten-round image under key (k0, k1);
// the key is bumped by the Weyl constants 0x9E3779B9 and 0xBB67AE85 between
// rounds.
static __device__ void philox4x32_10(unsigned c[4], unsigned k0, unsigned k1) {
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k0 += 0x9E3779B9u;
			k1 += 0xBB67AE85u;
		}
		philox_round(c, k0, k1);
	}
}

// philox_uniform: a float in [0, 1) from the top 24 bits of w, exact.
static __device__ float philox_uniform(unsigned w) { return (float)(w >> 8) * 5.9604644775390625e-8f; }

// philox_block_u32 writes block c0 + i (i < n) of the stream of seed
// (seed_lo, seed_hi) into out[4i .. 4i+3]: the raw words, for tests of the
// generator against internal/philox.
// Geometry: 1-D grid-stride over n blocks. Traffic: 16 bytes/block.
extern "C" __global__ void philox_block_u32(unsigned* out, int n, unsigned seed_lo, unsigned seed_hi, unsigned ctr_lo, unsigned ctr_hi) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const unsigned long long c = (((unsigned long long)ctr_hi << 32) | ctr_lo) + i;
		unsigned w[4] = {(unsigned)c, (unsigned)(c >> 32), 0u, 0u};
		philox4x32_10(w, seed_lo, seed_hi);
		for (int k = 0; k < 4; k++) out[4 * (size_t)i + k] = w[k];
	}
}

// drop_mask_f32: drop path's per-sample factors (Huang et al. 2016; timm's
// drop_path, scale_by_keep): mask[i] = factor when the uniform of word 0 of
// block counter + i is below keep, else 0, for i < n. keep and factor are
// float(keep_prob) and float(1/keep_prob) from the host.
// Geometry: 1-D grid-stride over samples. Traffic: 4 bytes/sample.
extern "C" __global__ void drop_mask_f32(float* mask, int n, unsigned seed_lo, unsigned seed_hi, unsigned ctr_lo, unsigned ctr_hi,
                                         float keep, float factor) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const unsigned long long c = (((unsigned long long)ctr_hi << 32) | ctr_lo) + i;
		unsigned w[4] = {(unsigned)c, (unsigned)(c >> 32), 0u, 0u};
		philox4x32_10(w, seed_lo, seed_hi);
		mask[i] = philox_uniform(w[0]) < keep ? factor : 0.0f;
	}
}
