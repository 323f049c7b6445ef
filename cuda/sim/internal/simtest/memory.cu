// Kernels that exercise device memory, parameters, built-in variables,
// dynamic shared memory, vector types and math in the simulator's
// self-tests (cuda/sim).
#include "compat.cuh"

// sim_axpy computes y[i] += a*x[i] for i < n.
extern "C" __global__ void sim_axpy(float* y, const float* x, float a, int n) {
	int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i < n) y[i] += a * x[i];
}

// sim_oob_write writes one element past the end of y (a bug: i <= n).
extern "C" __global__ void sim_oob_write(float* y, int n) {
	int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i <= n) y[i] = 1.0f;
}

// sim_args stores its scalar parameters' values (float and double as bits).
extern "C" __global__ void sim_args(long long* out, int a, unsigned b, long long c, unsigned long long d, float e,
                                    double f, const float* p) {
	if (threadIdx.x == 0 && blockIdx.x == 0) {
		out[0] = a;
		out[1] = (long long)b;
		out[2] = c;
		out[3] = (long long)d;
		out[4] = __float_as_int(e);
		out[5] = __double_as_longlong(f);
		out[6] = p != nullptr;
	}
}

// sim_builtins stores threadIdx, blockIdx, blockDim and gridDim (12 values)
// for every thread of the grid, in linear thread order.
extern "C" __global__ void sim_builtins(unsigned* out) {
	size_t b = blockIdx.x + (size_t)gridDim.x * (blockIdx.y + (size_t)gridDim.y * blockIdx.z);
	size_t t = threadIdx.x + (size_t)blockDim.x * (threadIdx.y + (size_t)blockDim.y * threadIdx.z);
	unsigned* o = out + 12 * (b * blockDim.x * blockDim.y * blockDim.z + t);
	o[0] = threadIdx.x;
	o[1] = threadIdx.y;
	o[2] = threadIdx.z;
	o[3] = blockIdx.x;
	o[4] = blockIdx.y;
	o[5] = blockIdx.z;
	o[6] = blockDim.x;
	o[7] = blockDim.y;
	o[8] = blockDim.z;
	o[9] = gridDim.x;
	o[10] = gridDim.y;
	o[11] = gridDim.z;
}

// sim_bounded may be launched with at most 64 threads per block.
extern "C" __global__ void __launch_bounds__(64) sim_bounded(float* y) { y[threadIdx.x] = 1.0f; }

// sim_float4_scale computes y[i] = a*x[i] on float4 vectors, i < n4.
extern "C" __global__ void sim_float4_scale(float4* y, const float4* x, float a, int n4) {
	int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i < n4) {
		float4 v = x[i];
		y[i] = make_float4(a * v.x, a * v.y, a * v.z, a * v.w);
	}
}

// sim_math evaluates 16 functions of the math allowlist on in[i]:
// out[16*i+k].
extern "C" __global__ void sim_math(float* out, const float* in, int n) {
	int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i >= n) return;
	float x = in[i];
	float* o = out + 16 * i;
	o[0] = expf(x);
	o[1] = logf(fabsf(x) + 1.0f);
	o[2] = sqrtf(fabsf(x));
	o[3] = rsqrtf(fabsf(x) + 1.0f);
	o[4] = erff(x);
	o[5] = tanhf(x);
	o[6] = fmaxf(x, 0.5f);
	o[7] = fminf(x, 0.5f);
	o[8] = fmaf(x, x, 1.0f);
	o[9] = __expf(x);
	o[10] = __fdividef(x, 3.0f);
	o[11] = rintf(x * 4.5f);
	o[12] = __saturatef(x);
	o[13] = (float)__float2int_rn(x * 3.5f);
	o[14] = (float)max(min((int)x, 2), -2);
	o[15] = powf(fabsf(x), 1.5f);
}

// sim_half_bits converts in[i] to half and bfloat16 bits.
extern "C" __global__ void sim_half_bits(unsigned short* h, unsigned short* bf, float* back, const float* in, int n) {
	int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i >= n) return;
	__half x = __float2half(in[i]);
	__nv_bfloat16 y = __float2bfloat16(in[i]);
	h[i] = __half_as_ushort(x);
	bf[i] = __bfloat16_as_ushort(y);
	back[2 * i] = __half2float(x);
	back[2 * i + 1] = __bfloat162float(y);
}

// sim_dyn_reverse reverses each block's n-element slice of in through n
// floats of dynamic shared memory.
extern "C" __global__ void sim_dyn_reverse(float* out, const float* in, int n) {
	CUDA_DYN_SMEM(float, buf);
	int t = (int)threadIdx.x;
	for (int i = t; i < n; i += (int)blockDim.x) buf[i] = in[blockIdx.x * n + i];
	__syncthreads();
	for (int i = t; i < n; i += (int)blockDim.x) out[blockIdx.x * n + i] = buf[n - 1 - i];
}

// sim_dyn_double stores each thread's index times 0.5 in dynamic shared
// memory as doubles and reads back its neighbour's (alignment and types).
extern "C" __global__ void sim_dyn_double(double* out) {
	CUDA_DYN_SMEM(double, buf);
	unsigned t = threadIdx.x;
	buf[t] = t * 0.5;
	__syncthreads();
	out[t] = buf[(t + 1) % blockDim.x];
}

// sim_dyn_overrun writes one float past the n floats of dynamic shared
// memory (a bug: t <= n).
extern "C" __global__ void sim_dyn_overrun(float* out, int n) {
	CUDA_DYN_SMEM(float, buf);
	int t = (int)threadIdx.x;
	if (t <= n) buf[t] = 1.0f;
	out[t] = 0.0f;
}

// sim_dyn_unwritten reads dynamic shared memory nobody wrote (a bug).
extern "C" __global__ void sim_dyn_unwritten(float* out) {
	CUDA_DYN_SMEM(float, buf);
	out[threadIdx.x] = buf[threadIdx.x];
}

// sim_static_overrun indexes a 32-float static shared array with up to
// blockDim.x-1 (a bug when blockDim.x > 32).
extern "C" __global__ void sim_static_overrun(float* out) {
	__shared__ float s[32];
	s[threadIdx.x] = 1.0f;
	__syncthreads();
	out[threadIdx.x] = s[threadIdx.x % 32];
}

// sim_misaligned_float4 loads a float4 from an address 4 bytes past a
// 16-byte boundary (a bug: a misaligned-address fault on a GPU).
extern "C" __global__ void sim_misaligned_float4(float* y, const float* x) {
	float4 v = reinterpret_cast<const float4*>(x + 1)[0];
	y[threadIdx.x] = v.x + v.y + v.z + v.w;
}

// sim_bf16_pairs converts in[8i .. 8i+8) to bf16 through the __nv_bfloat162
// intrinsics, stores the eight values with one 16-byte uint4 store, loads
// them back with one uint4 load and widens them with __low2float,
// __high2float and __bfloat1622float2 (one thread per 8 values).
extern "C" __global__ void sim_bf16_pairs(__nv_bfloat16* bf, float* back, const float* in, int groups) {
	int g = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (g >= groups) return;
	const float* x = in + 8 * g;
	union {
		uint4 u;
		__nv_bfloat162 h[4];
	} p, q;
	p.h[0] = __floats2bfloat162_rn(x[0], x[1]);
	p.h[1] = __float22bfloat162_rn(make_float2(x[2], x[3]));
	p.h[2] = __halves2bfloat162(__float2bfloat16_rn(x[4]), __float2bfloat16(x[5]));
	p.h[3] = __floats2bfloat162_rn(x[6], x[7]);
	*reinterpret_cast<uint4*>(bf + 8 * g) = p.u;
	q.u = *reinterpret_cast<const uint4*>(bf + 8 * g);
	float* y = back + 8 * g;
	y[0] = __low2float(q.h[0]);
	y[1] = __high2float(q.h[0]);
	const float2 f = __bfloat1622float2(q.h[1]);
	y[2] = f.x;
	y[3] = f.y;
	y[4] = __bfloat162float(__low2bfloat16(q.h[2]));
	y[5] = __bfloat162float(__high2bfloat16(q.h[2]));
	y[6] = __low2float(q.h[3]);
	y[7] = __high2float(q.h[3]);
}
