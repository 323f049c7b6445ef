// bf16.cuh: loads and stores of activations whose storage type T is float
// (fp32 precision) or __nv_bfloat16 (bf16 precision, docs/BF16.md). Kernels
// templated on T compute in float32 and round each bf16 output once, to
// nearest even, when they store it (__float2bfloat16_rn), as the CPU
// emulation does.
//
// Vector helpers move 8 elements at a time: one 16-byte uint4 for bf16 (the
// widest global load), two float4 for float. A bf16 pair is unpacked with
// integer shifts (a bf16 is the upper half of a float32) and packed from
// two rounded halves, so no 16-bit arithmetic and no type punning is
// needed. Callers use them only on 16-byte-aligned addresses
// (aligned16) and finish the remainder with the scalar helpers.
#pragma once
#include "compat.cuh"

// ld_f32 returns element i of p as float.
static __device__ __forceinline__ float ld_f32(const float* p, long long i) { return p[i]; }
static __device__ __forceinline__ float ld_f32(const __nv_bfloat16* p, long long i) { return __bfloat162float(p[i]); }

// st_f32 stores v into element i of p, rounding to nearest even for bf16.
static __device__ __forceinline__ void st_f32(float* p, long long i, float v) { p[i] = v; }
static __device__ __forceinline__ void st_f32(__nv_bfloat16* p, long long i, float v) { p[i] = __float2bfloat16_rn(v); }

// aligned16 reports whether p is 16-byte aligned.
template <class T>
static __device__ __forceinline__ bool aligned16(const T* p) {
	return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0;
}

// bf16_lo and bf16_hi return the float of the low (lower address) and high
// bf16 of a 32-bit word; bf16_pack packs two floats rounded to bf16.
static __device__ __forceinline__ float bf16_lo(unsigned w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float bf16_hi(unsigned w) { return __uint_as_float(w & 0xffff0000u); }
static __device__ __forceinline__ unsigned bf16_pack(float lo, float hi) {
	return (unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
	       ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16);
}

// ld8 loads elements [i, i+8) of p into v; p + i must be 16-byte aligned.
static __device__ __forceinline__ void ld8(const __nv_bfloat16* p, long long i, float (&v)[8]) {
	const uint4 u = *reinterpret_cast<const uint4*>(p + i);
	v[0] = bf16_lo(u.x), v[1] = bf16_hi(u.x), v[2] = bf16_lo(u.y), v[3] = bf16_hi(u.y);
	v[4] = bf16_lo(u.z), v[5] = bf16_hi(u.z), v[6] = bf16_lo(u.w), v[7] = bf16_hi(u.w);
}
static __device__ __forceinline__ void ld8(const float* p, long long i, float (&v)[8]) {
	const float4 a = *reinterpret_cast<const float4*>(p + i);
	const float4 b = *reinterpret_cast<const float4*>(p + i + 4);
	v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

// st8 stores v into elements [i, i+8) of p; p + i must be 16-byte aligned.
static __device__ __forceinline__ void st8(__nv_bfloat16* p, long long i, const float (&v)[8]) {
	*reinterpret_cast<uint4*>(p + i) =
	    make_uint4(bf16_pack(v[0], v[1]), bf16_pack(v[2], v[3]), bf16_pack(v[4], v[5]), bf16_pack(v[6], v[7]));
}
static __device__ __forceinline__ void st8(float* p, long long i, const float (&v)[8]) {
	*reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
	*reinterpret_cast<float4*>(p + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
}

// map_bf16 writes y[i] = f(a[i], b[i], i) for i < n, b optional (nullptr:
// f sees 0), over a 1-D grid-stride loop of 8-element groups: 16-byte
// vector loads and stores when y, a and b are 16-byte aligned, then a
// scalar tail; all scalar when one is not. y may alias a or b (each element
// is read and written by one thread). Any 1-D grid works; ceil(n/8) threads
// in all is enough.
template <class F>
static __device__ __forceinline__ void map_bf16(__nv_bfloat16* y, const __nv_bfloat16* a, const __nv_bfloat16* b, long long n, F f) {
	const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	const long long stride = (long long)gridDim.x * blockDim.x;
	long long done = 0;
	if (aligned16(y) && aligned16(a) && (b == nullptr || aligned16(b))) {
		const long long groups = n / 8;
		for (long long g = t; g < groups; g += stride) {
			float va[8], vb[8] = {0, 0, 0, 0, 0, 0, 0, 0}, out[8];
			ld8(a, 8 * g, va);
			if (b != nullptr) ld8(b, 8 * g, vb);
#pragma unroll
			for (int k = 0; k < 8; k++) out[k] = f(va[k], vb[k], 8 * g + k);
			st8(y, 8 * g, out);
		}
		done = 8 * groups;
	}
	for (long long i = done + t; i < n; i += stride) {
		st_f32(y, i, f(ld_f32(a, i), b != nullptr ? ld_f32(b, i) : 0.0f, i));
	}
}
