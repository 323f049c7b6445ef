// pool.cu: global average pooling over the spatial positions of NHWC
// activations, x [N, HW, C] → y [N, C] (ConvNeXt's x.mean([-2, -1]) before
// the head), and its backward. float32 tensors, float64 sums like the CPU
// backend, so results agree with kernels/cpu to within an ulp.
#include "bf16.cuh"

// avgpool_fwd_f32: y[n, c] = (float)(Σ_hw (double)x[n, hw, c] / HW).
// Geometry: 1-D, one thread per output (n, c) (grid covers N·C; any block
// size); consecutive threads take consecutive channels, so each of the HW
// steps is a coalesced row read. There are no barriers: the pool runs once
// per step on a small tensor (batch 128 × 7·7 × 320 for Atto), where N·C
// threads are plenty. Traffic: 4·HW + 4 bytes per output; HW FP64 adds.
template <class T>
static __device__ __forceinline__ void avgpool_fwd(T* y, const T* x, int N, int HW, int C) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o < (unsigned)N * (unsigned)C) {
		const unsigned n = o / (unsigned)C, c = o % (unsigned)C;
		const T* xn = x + (size_t)n * HW * C + c;
		double acc = 0.0;
		for (int h = 0; h < HW; h++) acc += (double)ld_f32(xn, (size_t)h * C);
		st_f32(y, o, (float)(acc / (double)HW));
	}
}

extern "C" __global__ void avgpool_fwd_f32(float* y, const float* x, int N, int HW, int C) { avgpool_fwd(y, x, N, HW, C); }

// avgpool_bwd_f32: dx[n, hw, c] = (float)((double)dy[n, c] / HW), the
// gradient of avgpool_fwd_f32 (overwrites dx).
// Geometry: 1-D grid-stride over the N·HW·C elements of dx (256 threads,
// at most 4096 blocks). Traffic: 4 bytes/element written, dy re-read from
// cache; one FP64 division.
template <class T>
static __device__ __forceinline__ void avgpool_bwd(T* dx, const T* dy, int N, int HW, int C) {
	const unsigned n_el = (unsigned)N * (unsigned)HW * (unsigned)C;
	const unsigned per = (unsigned)HW * (unsigned)C;
	const unsigned stride = gridDim.x * blockDim.x;
	const double hw = (double)HW;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n_el; i += stride) {
		const unsigned n = i / per, c = i % (unsigned)C;
		st_f32(dx, i, (float)((double)ld_f32(dy, n * (unsigned)C + c) / hw));
	}
}

extern "C" __global__ void avgpool_bwd_f32(float* dx, const float* dy, int N, int HW, int C) { avgpool_bwd(dx, dy, N, HW, C); }

// avgpool_fwd_bf16 and avgpool_bwd_bf16 are the kernels above on bf16
// activations: float64 sums as in float32, each output rounded to bf16 once
// (after the float rounding, as the CPU emulation does).
extern "C" __global__ void avgpool_fwd_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, int N, int HW, int C) {
	avgpool_fwd(y, x, N, HW, C);
}

extern "C" __global__ void avgpool_bwd_bf16(__nv_bfloat16* dx, const __nv_bfloat16* dy, int N, int HW, int C) {
	avgpool_bwd(dx, dy, N, HW, C);
}
