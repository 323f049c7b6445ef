// crossentropy.cu: per-sample softmax cross-entropy against target
// distributions (one-hot, label-smoothed, mixup/cutmix rows) and its
// backward, float32 tensors with float64 arithmetic like the CPU backend,
// so the results agree with kernels/cpu to within an ulp. The kernels are
// templates on the storage type T of logits and dlogits: float, or
// __nv_bfloat16 under bf16 autocast (docs/BF16.md), where the loss and the
// probabilities stay float32 and dlogits is rounded once.
#include "bf16.cuh"
#include "reduce.cuh"

// ce_block_max returns the maximum of v over the block to every thread.
// blockDim.x must be a multiple of 32; every thread must call it.
static __device__ double ce_block_max(double v) {
	__shared__ double warp_vals[32];
	for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, off));
	__syncthreads();  // a previous call's readers are done with warp_vals
	if ((threadIdx.x & 31) == 0) warp_vals[threadIdx.x >> 5] = v;
	__syncthreads();
	double m = warp_vals[0];
	const unsigned nw = blockDim.x >> 5;
	for (unsigned w = 1; w < nw; w++) m = fmax(m, warp_vals[w]);
	return m;
}

// cross_entropy_fwd_f32: for each sample n (one block per row, blockIdx.x =
// n), with l = logits[n, :], t = target[n, :] of K classes,
//   mx = max_k l_k, lse = mx + log Σ_k exp(l_k − mx)        (float64)
//   loss[n] = Σ_{k: t_k ≠ 0} t_k·(lse − l_k),  prob[n, k] = exp(l_k − lse)
// Terms with t_k = 0 are skipped, so a −Inf logit of a class without target
// mass gives a finite loss (as the CPU backend does). prob may alias
// logits: every logit is read by the thread that writes its probability, and
// all reads of the max and sum passes precede that write in the same thread.
// Geometry: grid N blocks × blockDim.x threads (a multiple of 32, at most
// 1024; the launcher uses min(256, K rounded up to 32)); thread t takes
// classes t, t + blockDim.x, ...; three block reductions (6 barriers).
// Traffic: 12 bytes per class + 4 per sample; ~2 FP64 exp per class.
template <class T>
static __device__ __forceinline__ void cross_entropy_fwd(float* loss, float* prob, const T* logits, const float* target, int K) {
	const size_t row = (size_t)blockIdx.x * K;
	const T* l = logits + row;
	const float* t = target + row;
	float* p = prob + row;

	double mx = -__longlong_as_double(0x7ff0000000000000LL);  // −Inf
	for (int k = threadIdx.x; k < K; k += blockDim.x) mx = fmax(mx, (double)ld_f32(l, k));
	mx = ce_block_max(mx);

	double sum = 0.0;
	for (int k = threadIdx.x; k < K; k += blockDim.x) sum += exp((double)ld_f32(l, k) - mx);
	const double lse = mx + log(block_sum_f64(sum));

	double ls = 0.0;
	for (int k = threadIdx.x; k < K; k += blockDim.x) {
		const double f = (double)ld_f32(l, k);
		const double tk = (double)t[k];
		if (tk != 0.0) ls += tk * (lse - f);
		p[k] = (float)exp(f - lse);
	}
	ls = block_sum_f64(ls);
	if (threadIdx.x == 0) loss[blockIdx.x] = (float)ls;
}

extern "C" __global__ void __launch_bounds__(256) cross_entropy_fwd_f32(float* loss, float* prob, const float* logits,
	const float* target, int K) {
	cross_entropy_fwd(loss, prob, logits, target, K);
}

// cross_entropy_fwd_bf16 is cross_entropy_fwd_f32 on bf16 logits (widened
// exactly); loss and prob are float32, so prob cannot alias logits.
// Traffic: 10 bytes per class + 4 per sample.
extern "C" __global__ void __launch_bounds__(256) cross_entropy_fwd_bf16(float* loss, float* prob, const __nv_bfloat16* logits,
	const float* target, int K) {
	cross_entropy_fwd(loss, prob, logits, target, K);
}

// cross_entropy_bwd_f32: dlogits[i] = (float)(scale·((double)prob[i] −
// (double)target[i])) over the n = N·K elements; dlogits may alias prob or
// target. Geometry: 1-D grid-stride. Traffic: 12 bytes/element.
template <class T>
static __device__ __forceinline__ void cross_entropy_bwd(T* dlogits, const float* prob, const float* target, double scale, int n) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		st_f32(dlogits, i, (float)(scale * ((double)prob[i] - (double)target[i])));
	}
}

extern "C" __global__ void cross_entropy_bwd_f32(float* dlogits, const float* prob, const float* target, double scale,
	int n) {
	cross_entropy_bwd(dlogits, prob, target, scale, n);
}

// cross_entropy_bwd_bf16 is cross_entropy_bwd_f32 writing bf16 dlogits: the
// float32 value rounded once more, to nearest even, as the CPU emulation
// rounds its float32 dlogits (float64 → float32 → bf16, as PyTorch's
// float32 softmax backward followed by the cast to the logits' dtype).
// dlogits cannot alias prob or target. Traffic: 10 bytes/element.
extern "C" __global__ void cross_entropy_bwd_bf16(__nv_bfloat16* dlogits, const float* prob, const float* target, double scale,
	int n) {
	cross_entropy_bwd(dlogits, prob, target, scale, n);
}
