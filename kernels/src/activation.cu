// activation.cu: the elementwise activations of MobileNet and EfficientNet
// blocks, forward and backward (kernels.PointwiseOps), selected by kind
// (kernels.ActivationKind): 0 ReLU, 1 ReLU6, 2 SiLU, 3 Hardswish,
// 4 Hardsigmoid, 5 Sigmoid, with PyTorch's definitions and its derivatives
// at the kinks (aten's threshold_backward, hardtanh_backward and the CUDA
// hardswish_backward and hardsigmoid_backward kernels). Comparisons are
// written so that NaN falls through to an expression of x and stays NaN
// (fmaxf/fminf would drop it), as PyTorch's clamps do.
#include "compat.cuh"

#define ACT_THREADS 256

// act_relu6 returns min(max(x, 0), 6), NaN for NaN.
static __device__ __forceinline__ float act_relu6(float x) {
	return x <= 0.0f ? 0.0f : (x >= 6.0f ? 6.0f : x);
}

// act_sigmoid returns 1/(1 + e^−x); e^−x = +Inf gives 0.
static __device__ __forceinline__ float act_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// act_fwd returns f(x) for kind.
static __device__ __forceinline__ float act_fwd(float x, int kind) {
	switch (kind) {
	case 0:
		return x <= 0.0f ? 0.0f : x;
	case 1:
		return act_relu6(x);
	case 2:
		return x * act_sigmoid(x);
	case 3:
		return x * act_relu6(x + 3.0f) / 6.0f;
	case 4:
		return act_relu6(x + 3.0f) / 6.0f;
	default:
		return act_sigmoid(x);
	}
}

// act_grad returns f'(x) for kind: ReLU 0 at 0; ReLU6 0 at 0 and 6;
// Hardswish x/3 + 1/2 on [−3, 3] (−1/2 and 3/2 at the ends); Hardsigmoid
// 0 at ±3.
static __device__ __forceinline__ float act_grad(float x, int kind) {
	switch (kind) {
	case 0:
		return x > 0.0f ? 1.0f : 0.0f;
	case 1:
		return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
	case 2: {
		const float s = act_sigmoid(x);
		return s * (1.0f + x * (1.0f - s));
	}
	case 3:
		return x < -3.0f ? 0.0f : (x <= 3.0f ? x / 3.0f + 0.5f : 1.0f);
	case 4:
		return (x > -3.0f && x < 3.0f) ? 1.0f / 6.0f : 0.0f;
	default: {
		const float s = act_sigmoid(x);
		return s * (1.0f - s);
	}
	}
}

// act_fwd_f32 writes y[i] = f(x[i]) for i < n; y may alias x.
//
// Launch: grid ceil(n/256), block 256, one element per thread (coalesced).
// Traffic 8 B per element; at most one expf per element: bandwidth-bound.
extern "C" __global__ void __launch_bounds__(ACT_THREADS)
    act_fwd_f32(float* y, const float* x, int n, int kind) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		y[i] = act_fwd(x[i], kind);
	}
}

// act_bwd_f32 writes dx[i] = dy[i]·f'(x[i]) for i < n; dx may alias dy.
//
// Launch and traffic as act_fwd_f32, 12 B per element.
extern "C" __global__ void __launch_bounds__(ACT_THREADS)
    act_bwd_f32(float* dx, const float* dy, const float* x, int n, int kind) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		dx[i] = dy[i] * act_grad(x[i], kind);
	}
}
