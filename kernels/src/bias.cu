// bias.cu: the per-channel bias of Linear and Conv2D and its gradient.
//
// Both work on a row-major matrix [rows, cols] whose rows are pixels (or
// Linear rows) and whose columns are output channels: the NHWC activation
// of a convolution seen as [N·OH·OW, COut].
#include "bf16.cuh"

// bias_add_f32 adds the bias row to every row of y in place:
//
//	y[r, c] += b[c]     y [rows, cols] row-major, b [cols]
//
// Launch: 1-D, one thread per element of y (blockDim.x = 256, gridDim.x =
// ceil(rows·cols / 256)); threads past the end do nothing. Consecutive
// threads touch consecutive elements, so y is read and written fully
// coalesced and b (cols floats) stays in L1: 8 bytes moved and 1 FLOP per
// element, purely bandwidth-bound.
extern "C" __global__ void __launch_bounds__(256) bias_add_f32(float* y, const float* b, int rows, int cols) {
	const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < (unsigned)(rows * cols)) y[i] += __ldg(b + i % cols);
}

// column_sum_f32 sums the rows of a row-major matrix in chunks, the bias
// gradient db = Σ_rows dy as a deterministic two-pass reduction:
//
//	out[k, c] (= or +=) Σ_{r in chunk k} in[r·ld + c]
//
// in is [rows, cols] with row stride ld >= cols; chunk k covers rows
// [k·rows_per_chunk, min(rows, (k+1)·rows_per_chunk)); out is [chunks,
// cols] row-major, overwritten when accumulate == 0 and added to otherwise.
// The first pass (chunks many) writes per-chunk partial sums; a second
// launch with one chunk spanning every partial row and accumulate = 1 adds
// their total into the gradient. Every sum is taken in a fixed order, so
// the result does not depend on scheduling.
//
// Launch: blockDim = (32, BY) with BY = 1 or 8, gridDim = (ceil(cols/32),
// chunks). Thread (tx, ty) owns column blockIdx.x·32 + tx and sums the rows
// ty, ty+BY, ... of its chunk, so each warp reads 128 contiguous bytes of a
// row; with BY = 8 the eight partial sums of a column meet in shared memory
// (one barrier) and are added in ty order. Bytes: 4·rows·cols read,
// 4·chunks·cols written; 1 FLOP per element read.
template <class T>
static __device__ __forceinline__ void column_sum(float* out, const T* in, int rows, int cols, int ld, int rows_per_chunk, int accumulate) {
	__shared__ float part[8][33];
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int r0 = blockIdx.y * rows_per_chunk;
	const int r1 = min(rows, r0 + rows_per_chunk);
	float sum = 0.f;
	if (c < cols) {
		for (int r = r0 + (int)threadIdx.y; r < r1; r += blockDim.y) sum += ld_f32(in, (long long)r * ld + c);
	}
	if (blockDim.y > 1) {  // block-uniform: every thread takes the same branch
		part[threadIdx.y][threadIdx.x] = sum;
		__syncthreads();
		sum = 0.f;
		for (int k = 0; k < (int)blockDim.y; k++) sum += part[k][threadIdx.x];
	}
	if (threadIdx.y == 0 && c < cols) {
		float* o = out + (long long)blockIdx.y * cols + c;
		*o = accumulate ? *o + sum : sum;
	}
}

extern "C" __global__ void __launch_bounds__(256) column_sum_f32(float* out, const float* in, int rows, int cols, int ld, int rows_per_chunk, int accumulate) {
	column_sum(out, in, rows, cols, ld, rows_per_chunk, accumulate);
}

// column_sum_bf16 is column_sum_f32 over a bf16 matrix (a bf16 output
// gradient dy): float32 sums and float32 out, 2 bytes read per element.
// Its partial sums are float32, so the second pass is column_sum_f32.
extern "C" __global__ void __launch_bounds__(256) column_sum_bf16(float* out, const __nv_bfloat16* in, int rows, int cols, int ld, int rows_per_chunk, int accumulate) {
	column_sum(out, in, rows, cols, ld, rows_per_chunk, accumulate);
}
