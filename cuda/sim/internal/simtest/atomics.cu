// Kernels that exercise atomics in the simulator's self-tests (cuda/sim).
#include "compat.cuh"

// sim_atomics: every thread t (global index) applies one of each atomic.
// i[0] += 1, i[1] -= 2, i[2] = exch 7, i[3] = min(t-1000), i[4] = max(t),
// i[5] = CAS-loop increment; u[0] += 3, u[1] = max(t), u[2] = min(t+5),
// u[3] = atomicInc(wrap), u[4] = atomicDec(wrap); ull[0] += t;
// f[0] += 0.5; d[0] += 0.25; bits[0] |= 1<<(t%32), bits[1] &= ~(1<<(t%32)),
// bits[2] ^= 1<<(t%32).
extern "C" __global__ void sim_atomics(int* i, unsigned* u, unsigned long long* ull, float* f, double* d,
                                       unsigned* bits, unsigned wrap) {
	int t = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	atomicAdd(&i[0], 1);
	atomicSub(&i[1], 2);
	atomicExch(&i[2], 7);
	atomicMin(&i[3], t - 1000);
	atomicMax(&i[4], t);
	int old = atomicAdd(&i[5], 0), assumed;
	do {
		assumed = old;
		old = atomicCAS(&i[5], assumed, assumed + 1);
	} while (old != assumed);
	atomicAdd(&u[0], 3u);
	atomicMax(&u[1], (unsigned)t);
	atomicMin(&u[2], (unsigned)t + 5u);
	atomicInc(&u[3], wrap);
	atomicDec(&u[4], wrap);
	atomicAdd(&ull[0], (unsigned long long)t);
	atomicAdd(&f[0], 0.5f);
	atomicAdd(&d[0], 0.25);
	unsigned bit = 1u << (t % 32);
	atomicOr(&bits[0], bit);
	atomicAnd(&bits[1], ~bit);
	atomicXor(&bits[2], bit);
}

// sim_histogram counts in[k] % bins into hist with atomicAdd, with a block
// barrier so that the kernel runs threaded.
extern "C" __global__ void sim_histogram(unsigned* hist, const int* in, int n, int bins) {
	int k = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	__syncthreads();
	if (k < n) atomicAdd(&hist[in[k] % bins], 1u);
}
