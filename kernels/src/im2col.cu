// im2col.cu: the patch matrix of a dense NHWC convolution and its adjoint.
//
// Conv2D (kernels.ConvShape: x [N, H, W, CIn], w [COut, CIn, K, K] OIHW,
// stride S, zero padding P, y [N, OH, OW, COut]) runs as a GEMM over the
// patch matrix cols [pixels, CIn·K·K] whose column j = ci·K·K + kh·K + kw
// is ordered like a row of the OIHW weights, so w [COut, CIn·K·K] is used
// by cuBLAS as it is stored: y = cols·wᵀ. The batch is processed in chunks
// of whole output rows r = n·OH + oh in [r0, r1) to bound the buffer.
// The kernels are templates on the storage type T of x and cols (im2col)
// and of dx (col2im): float, or __nv_bfloat16 for bf16 activations
// (docs/BF16.md). im2col copies elements, so its bf16 patches are exact;
// col2im reads a float32 patch gradient (the product dy·w is stored in
// float32 so that its taps are summed before the one rounding of dx).
#include "bf16.cuh"

// im2col_f32 writes the patches of output rows [r0, r0 + pixels/OW):
//
//	cols[p, ci·K·K + kh·K + kw] = x[n, oh·S + kh − P, ow·S + kw − P, ci]
//
// for the chunk's pixel p = (r − r0)·OW + ow, r = n·OH + oh, and 0 where
// the tap falls in the padding. cols is [pixels, CIn·K·K] row-major.
//
// Launch: 1-D, one thread per element of cols (blockDim.x = 256, gridDim.x
// = ceil(pixels·CIn·K·K / 256)). Consecutive threads write consecutive
// elements (fully coalesced stores); the reads of one warp fall on the few
// input rows of one or two patches (K·CIn contiguous floats per patch row),
// which L1 serves. Bytes: 4 written per element plus the input once from
// DRAM (K²/S² times from L1); no FLOPs, a handful of integer divisions per
// element.
template <class T>
static __device__ __forceinline__ void im2col(T* cols, const T* x, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int pixels) {
	const int KK = K * K, ck = CIn * KK;
	const unsigned e = blockIdx.x * blockDim.x + threadIdx.x;
	if (e < (unsigned)(pixels * ck)) {
		const int p = (int)(e / ck), j = (int)e - p * ck;
		const int q = p / OW, r = r0 + q, ow = p - q * OW;
		const int n = r / OH, oh = r % OH;
		const int ci = j / KK, t = j - ci * KK;
		const int kh = t / K, kw = t - kh * K;
		const int ih = oh * S + kh - P, iw = ow * S + kw - P;
		float v = 0.f;
		if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = ld_f32(x, (((long long)n * H + ih) * W + iw) * CIn + ci);
		st_f32(cols, e, v);
	}
}

extern "C" __global__ void __launch_bounds__(256) im2col_f32(float* cols, const float* x, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int pixels) {
	im2col(cols, x, H, W, CIn, K, S, P, OH, OW, r0, pixels);
}

// col2im_f32 is the adjoint of im2col_f32 in gather form: each element of
// dx sums the entries of the patch gradient dcols [(r1 − r0)·OW, CIn·K·K]
// that im2col read from it,
//
//	dx[n, ih, iw, ci] (= or +=) Σ dcols[(r − r0)·OW + ow, ci·K·K + kh·K + kw]
//
// over the taps with oh·S + kh − P = ih, ow·S + kw − P = iw and output rows
// r = n·OH + oh in [r0, r1). Only kh ≡ ih + P (mod S) with kh <= ih + P can
// match, so the tap loops start at (ih + P) mod S and step by S. Every element is written by one thread, with no atomics:
// the result is deterministic. dx elements [q0·W·CIn, q0·W·CIn + count)
// are visited (q0 = n·H + ih is the first input row the chunk touches);
// they are overwritten when accumulate == 0 (one chunk covering the whole
// batch: elements no patch reads become 0) and added to otherwise (dx
// zeroed before the first chunk).
//
// Launch: 1-D, one thread per visited element of dx (blockDim.x = 256,
// gridDim.x = ceil(count / 256)); stores are coalesced over ci, reads of
// dcols are strided by K² floats across the warp and served by L1/L2.
// Bytes: 4 per dx element written (8 when accumulating) plus dcols once;
// ⌈K/S⌉² adds per element.
template <class T>
static __device__ __forceinline__ void col2im(T* dx, const float* dcols, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int r1, int q0, int count, int accumulate) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < count) {
		const int KK = K * K, ck = CIn * KK;
		const int rowLen = W * CIn;
		const int q = q0 + i / rowLen, rem = i % rowLen;
		const int n = q / H, ih = q % H;
		const int iw = rem / CIn, ci = rem - iw * CIn;
		float sum = 0.f;
		for (int kh = (ih + P) % S; kh < K && kh <= ih + P; kh += S) {
			const int oh = (ih + P - kh) / S;
			const int r = n * OH + oh;
			if (oh >= OH || r < r0 || r >= r1) continue;
			const float* row = dcols + (long long)(r - r0) * OW * ck + ci * KK + kh * K;
			for (int kw = (iw + P) % S; kw < K && kw <= iw + P; kw += S) {
				const int ow = (iw + P - kw) / S;
				if (ow < OW) sum += __ldg(row + (long long)ow * ck + kw);
			}
		}
		const long long d = (long long)q0 * rowLen + i;
		st_f32(dx, d, accumulate ? ld_f32(dx, d) + sum : sum);
	}
}

extern "C" __global__ void __launch_bounds__(256) col2im_f32(float* dx, const float* dcols, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int r1, int q0, int count, int accumulate) {
	col2im(dx, dcols, H, W, CIn, K, S, P, OH, OW, r0, r1, q0, count, accumulate);
}

// im2col_bf16 and col2im_bf16 are im2col_f32 and col2im_f32 on bf16
// activations: x, cols and dx bf16, dcols float32; each dx element is the
// float32 sum of its taps rounded once. A bf16 dx is only accumulated into
// (accumulate = 1) where no earlier chunk wrote the element (kernel size
// at most the stride), so that it is still rounded once; the host uses a
// float32 dx otherwise. Bytes: 2 per cols element written, 2 (4 when
// accumulating) per dx element plus 4 per dcols element read.
extern "C" __global__ void __launch_bounds__(256) im2col_bf16(__nv_bfloat16* cols, const __nv_bfloat16* x, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int pixels) {
	im2col(cols, x, H, W, CIn, K, S, P, OH, OW, r0, pixels);
}

extern "C" __global__ void __launch_bounds__(256) col2im_bf16(__nv_bfloat16* dx, const float* dcols, int H, int W, int CIn, int K, int S, int P, int OH, int OW, int r0, int r1, int q0, int count, int accumulate) {
	col2im(dx, dcols, H, W, CIn, K, S, P, OH, OW, r0, r1, q0, count, accumulate);
}
