// gelu.cu: elementwise GELU forward and backward (kernels.ActivationOps;
// Hendrycks & Gimpel 2016), erf and tanh forms.
//
// The numerics are in gelu.cuh, shared with layernorm.cu.
#include "bf16.cuh"
#include "gelu.cuh"

#define GELU_THREADS 256

// gelu_fwd_f32 writes y[i] = GELU(x[i]) for i < n; approx 0 is the erf
// form, 1 the tanh form (kernels.GELUApprox). y may alias x.
//
// Launch: grid ceil(n/256), block 256, one element per thread (coalesced).
// Traffic 8 B per element; about 20 FLOPs (erfcf) per element, far below
// the H100's FP32 ridge of 20 FLOP/B, so the kernel is bandwidth-bound.
extern "C" __global__ void __launch_bounds__(GELU_THREADS)
    gelu_fwd_f32(float* y, const float* x, int n, int approx) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		y[i] = gelu_act(x[i], approx);
	}
}

// gelu_bwd_f32 writes dx[i] = dy[i]·GELU'(x[i]) for i < n; approx as for
// gelu_fwd_f32. dx may alias dy or x.
//
// Launch: grid ceil(n/256), block 256, one element per thread. Traffic
// 12 B per element, about 30 FLOPs (erfcf and expf).
extern "C" __global__ void __launch_bounds__(GELU_THREADS)
    gelu_bwd_f32(float* dx, const float* dy, const float* x, int n, int approx) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		dx[i] = dy[i] * gelu_grad(x[i], approx);
	}
}

// gelu_fwd_bf16 is gelu_fwd_f32 on bf16 x and y (float32 arithmetic, y
// rounded to nearest even once). y may alias x.
//
// Launch: 1-D grid-stride over 8-element groups (map_bf16, bf16.cuh), block
// 256. Traffic 4 B per element.
extern "C" __global__ void __launch_bounds__(GELU_THREADS)
    gelu_fwd_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, int n, int approx) {
	map_bf16(y, x, nullptr, n, [approx](float v, float, long long) { return gelu_act(v, approx); });
}

// gelu_bwd_bf16 is gelu_bwd_f32 on bf16 dx, dy and x. dx may alias dy or x.
//
// Launch as gelu_fwd_bf16. Traffic 6 B per element.
extern "C" __global__ void __launch_bounds__(GELU_THREADS)
    gelu_bwd_bf16(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* x, int n, int approx) {
	map_bf16(dx, dy, x, n, [approx](float g, float v, long long) { return g * gelu_grad(v, approx); });
}
