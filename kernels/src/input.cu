// input.cu: a training batch on the device: uint8 NHWC pixels normalised
// to float32, mixup and CutMix of the batch with its reverse, and the
// label-smoothed (mixed) targets. Each kernel reproduces the CPU path's
// float32 arithmetic operation by operation (datasets.Normalize, the
// trainer's Mix.Apply, layers.SmoothedTargets) with round-to-nearest
// intrinsics where nvcc could otherwise contract a multiply-add, so the
// two agree bit for bit.
//
// The batch kernels are templates on its storage type T: float, or
// __nv_bfloat16 for a bf16 batch (docs/BF16.md), whose elements are
// computed in float32 exactly as for float and rounded once when stored,
// as the CPU emulation rounds. mix_targets stays float32.
//
// Geometry: 1-D grid-stride loops of 256 threads (the launcher's choice);
// element counts below 2^31 (checked on the host).
#include "bf16.cuh"

// normalize_u8_f32: y[i] = (x[i]/255 − mean[c])/std[c] with c = i mod C,
// each operation rounded to float (torchvision's ToTensor then Normalize
// in float32). stats holds mean[0..C) then std[0..C).
// Traffic: 5 bytes/element.
template <class T>
static __device__ __forceinline__ void normalize_u8(T* y, const unsigned char* x, const float* stats, int n, int C) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const unsigned c = i % (unsigned)C;
		const float v = __fdiv_rn((float)x[i], 255.0f);
		st_f32(y, i, __fdiv_rn(__fsub_rn(v, stats[c]), stats[C + c]));
	}
}

extern "C" __global__ void normalize_u8_f32(float* y, const unsigned char* x, const float* stats, int n, int C) {
	normalize_u8(y, x, stats, n, C);
}

// mix_blend_f32: mixup of x [N, per] with its reverse, in place: for each
// pair (i, N−1−i) with i < ceil(N/2), x_i ← lam·x_i + oml·x_j and
// x_j ← lam·x_j + oml·x_i from the old values (oml = 1 − lam in float);
// the middle sample of an odd batch gets lam·x + oml·x. One thread owns
// both elements of a pair. Traffic: 16 bytes/pair element.
template <class T>
static __device__ __forceinline__ void mix_blend(T* x, int N, int per, float lam, float oml) {
	const unsigned pairs = (unsigned)((N + 1) / 2) * (unsigned)per;
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < pairs; e += stride) {
		const unsigned i = e / (unsigned)per, q = e % (unsigned)per;
		const size_t a = (size_t)i * per + q, b = (size_t)(N - 1 - i) * per + q;
		const float va = ld_f32(x, a), vb = ld_f32(x, b);
		st_f32(x, a, __fadd_rn(__fmul_rn(lam, va), __fmul_rn(oml, vb)));
		st_f32(x, b, __fadd_rn(__fmul_rn(lam, vb), __fmul_rn(oml, va)));
	}
}

extern "C" __global__ void mix_blend_f32(float* x, int N, int per, float lam, float oml) {
	mix_blend(x, N, per, lam, oml);
}

// mix_cut_f32: CutMix of x [N, H, W, C] with its reverse, in place: for
// each pair (i, N−1−i) with i < N/2 the pixels of rows [y0, y1) × columns
// [x0, x1) are swapped (the middle sample of an odd batch keeps its own).
// Traffic: 16 bytes per swapped element.
template <class T>
static __device__ __forceinline__ void mix_cut(T* x, int N, int H, int W, int C, int y0, int y1, int x0, int x1) {
	const unsigned bw = (unsigned)(x1 - x0) * (unsigned)C;
	const unsigned per = (unsigned)(y1 - y0) * bw;
	const unsigned total = (unsigned)(N / 2) * per;
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
		const unsigned i = e / per, r = e % per;
		const unsigned row = (unsigned)y0 + r / bw, col = r % bw;
		const size_t off = ((size_t)row * W + x0) * C + col;
		const size_t img = (size_t)H * W * C;
		T* a = x + (size_t)i * img + off;
		T* b = x + (size_t)(N - 1 - i) * img + off;
		const T t = *a;
		*a = *b;
		*b = t;
	}
}

extern "C" __global__ void mix_cut_f32(float* x, int N, int H, int W, int C, int y0, int y1, int x0, int x1) {
	mix_cut(x, N, H, W, C, y0, y1, x0, x1);
}

// normalize_u8_bf16, mix_blend_bf16 and mix_cut_bf16 are the _f32 kernels
// on a bf16 batch (2 bytes per element where the _f32 kernels move 4;
// mix_cut_bf16 moves the elements' bits unchanged).
extern "C" __global__ void normalize_u8_bf16(__nv_bfloat16* y, const unsigned char* x, const float* stats, int n, int C) {
	normalize_u8(y, x, stats, n, C);
}

extern "C" __global__ void mix_blend_bf16(__nv_bfloat16* x, int N, int per, float lam, float oml) {
	mix_blend(x, N, per, lam, oml);
}

extern "C" __global__ void mix_cut_bf16(__nv_bfloat16* x, int N, int H, int W, int C, int y0, int y1, int x0, int x1) {
	mix_cut(x, N, H, W, C, y0, y1, x0, x1);
}

// mix_targets_f32: the soft targets t [N, K] of labels [N] (class indices
// stored as floats). Without mixing (mixed = 0) row i is off everywhere
// and on at labels[i] (layers.SmoothedTargets). With mixing, it is off,
// plus on_y at labels[i], plus on_j at labels[N−1−i], added in that order
// in float (timm's mixup_target as Mix.Apply computes it).
// Traffic: 4 bytes/element.
extern "C" __global__ void mix_targets_f32(float* t, const float* labels, int N, int K, float off, float on_y, float on_j, int mixed) {
	const unsigned n = (unsigned)N * (unsigned)K;
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride) {
		const unsigned i = e / (unsigned)K;
		const int q = (int)(e % (unsigned)K);
		const int y = (int)labels[i];
		float v = off;
		if (!mixed) {
			if (q == y) v = on_y;
		} else {
			const int j = (int)labels[N - 1 - i];
			if (q == y) v = __fadd_rn(v, on_y);
			if (q == j) v = __fadd_rn(v, on_j);
		}
		t[e] = v;
	}
}
