// convert.cu: float32 <-> bfloat16 copies between device tensors of the two
// dtypes (Backend.Copy), rounding to nearest even into bf16 (docs/BF16.md).
#include "bf16.cuh"

// convert writes y[i] = x[i] for i < n, converted from From to To.
// Geometry: 1-D grid-stride over 8-element groups; vector loads and stores
// when both pointers are 16-byte aligned, then a scalar tail.
template <class To, class From>
static __device__ __forceinline__ void convert(To* __restrict__ y, const From* __restrict__ x, int n) {
	const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	const long long stride = (long long)gridDim.x * blockDim.x;
	long long done = 0;
	if (aligned16(y) && aligned16(x)) {
		for (long long g = t; g < n / 8; g += stride) {
			float v[8];
			ld8(x, 8 * g, v);
			st8(y, 8 * g, v);
		}
		done = n / 8 * 8;
	}
	for (long long i = done + t; i < n; i += stride) st_f32(y, i, ld_f32(x, i));
}

// convert_f32_bf16 writes y[i] = bf16(x[i]), rounded to nearest even.
// Traffic 6 bytes/element.
extern "C" __global__ void convert_f32_bf16(__nv_bfloat16* y, const float* x, int n) { convert(y, x, n); }

// convert_bf16_f32 writes y[i] = float(x[i]) (exact). Traffic 6 bytes/element.
extern "C" __global__ void convert_bf16_f32(float* y, const __nv_bfloat16* x, int n) { convert(y, x, n); }
