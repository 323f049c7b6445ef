// Kernels for cuda/driver_cuda_test.go (not part of kernels/src). After a
// change, regenerate the PTX the test embeds, from this directory:
//
//   nvcc -ptx -arch=compute_80 -O3 -o driver_test.ptx driver_test.cu

// add_one: y[i] += 1 for i < n.
extern "C" __global__ void add_one(float* y, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) y[i] += 1.0f;
}

// echo_args writes the bits of each argument to out[0..5], so the test sees
// how every Go argument type arrived.
extern "C" __global__ void echo_args(unsigned long long* out, int a, unsigned b, long long c, float d, double e) {
	if (threadIdx.x == 0 && blockIdx.x == 0) {
		out[0] = (unsigned long long)(long long)a;
		out[1] = b;
		out[2] = (unsigned long long)c;
		out[3] = __float_as_uint(d);
		out[4] = (unsigned long long)__double_as_longlong(e);
		out[5] = (unsigned long long)out;
	}
}

// smem_sum: out[blockIdx.x] = sum of in over the block's blockDim.x
// elements, through blockDim.x floats of dynamic shared memory.
extern "C" __global__ void smem_sum(float* out, const float* in) {
	extern __shared__ float s[];
	s[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
	__syncthreads();
	if (threadIdx.x == 0) {
		float t = 0;
		for (unsigned i = 0; i < blockDim.x; i++) t += s[i];
		out[blockIdx.x] = t;
	}
}
