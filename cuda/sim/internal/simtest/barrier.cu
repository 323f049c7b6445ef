// Kernels that exercise __syncthreads and its variants in the simulator's
// self-tests (cuda/sim). The SITE_ comments mark lines whose numbers
// error messages must name.
#include "compat.cuh"

// sim_block_reverse reverses each block's slice of in through static shared
// memory: out[b*n+t] = in[b*n+n-1-t] with n threads per block (3-D blocks and
// grids allowed, n <= 256).
extern "C" __global__ void sim_block_reverse(float* out, const float* in) {
	__shared__ float s[256];
	unsigned n = blockDim.x * blockDim.y * blockDim.z;
	unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
	size_t base = (size_t)n * (blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z));
	s[t] = in[base + t];
	__syncthreads();
	out[base + t] = s[n - 1 - t];
}

// sim_block_sum writes the sum of each block's slice of in to out[block]; the
// block size must be a power of two <= 256.
extern "C" __global__ void sim_block_sum(float* out, const float* in) {
	__shared__ float s[256];
	unsigned t = threadIdx.x;
	s[t] = in[blockIdx.x * blockDim.x + t];
	__syncthreads();
	for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
		if (t < stride) s[t] += s[t + stride];
		__syncthreads();
	}
	if (t == 0) out[blockIdx.x] = s[0];
}

// sim_exit_outside: threads outside [lo, hi) return at once; the others
// rotate their indexes through shared memory `rounds` times, so that
// out[t] = (t-lo+rounds) % (hi-lo). Barriers release the exited threads.
extern "C" __global__ void sim_exit_outside(int* out, int lo, int hi, int rounds) {
	__shared__ int s[256];
	int t = threadIdx.x;
	if (t < lo || t >= hi) return;
	int n = hi - lo, i = t - lo;
	s[i] = i;
	for (int r = 0; r < rounds; r++) {
		__syncthreads();
		int v = s[(i + 1) % n];
		__syncthreads();
		s[i] = v;
	}
	out[t] = s[i];
}

// sim_divergent calls __syncthreads at two call sites (a bug).
extern "C" __global__ void sim_divergent(int* out) {
	if (threadIdx.x < 32) {
		__syncthreads();  // SITE_A
	} else {
		__syncthreads();  // SITE_B
	}
	out[threadIdx.x] = 1;
}

// sim_sync_reduce writes, for every thread t, the results of
// __syncthreads_count/and/or over p = (t % mod == 0) and over constants.
extern "C" __global__ void sim_sync_reduce(int* out, int mod) {
	int t = threadIdx.x;
	int p = (t % mod) == 0;
	int c = __syncthreads_count(p);
	int a = __syncthreads_and(p);
	int o = __syncthreads_or(p);
	int a1 = __syncthreads_and(1);
	int o0 = __syncthreads_or(0);
	int* r = out + 5 * t;
	r[0] = c;
	r[1] = a;
	r[2] = o;
	r[3] = a1;
	r[4] = o0;
}

// sim_missing_sync reads another thread's shared-memory write without a
// barrier in between (a bug): out[t] = s[(t+1) % n].
extern "C" __global__ void sim_missing_sync(float* out, const float* in) {
	__shared__ float s[256];
	unsigned t = threadIdx.x, n = blockDim.x;
	s[t] = in[t];
	out[t] = s[(t + 1) % n];
}

// sim_unwritten_shared reads shared memory that only the first 32 threads
// wrote (a bug for threads 32..63).
extern "C" __global__ void sim_unwritten_shared(float* out) {
	__shared__ float s[64];
	if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
	__syncthreads();
	out[threadIdx.x] = s[threadIdx.x];
}

// sim_deadlock: lanes 0..15 wait in __syncwarp while lanes 16..31 wait in
// __syncthreads (a bug that hangs a GPU).
extern "C" __global__ void sim_deadlock(int* out) {
	if (threadIdx.x < 16) {
		__syncwarp();  // SITE_C
	} else {
		__syncthreads();  // SITE_D
	}
	out[threadIdx.x] = 1;
}

// sim_spin loops until *flag becomes nonzero; with threaded != 0 the other
// threads wait for thread 0 in __syncthreads.
extern "C" __global__ void sim_spin(volatile int* flag, int threaded) {
	if (threadIdx.x == 0) {
		while (*flag == 0) {
		}
	}
	if (threaded) __syncthreads();
}
