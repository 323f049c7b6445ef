// optim.cu: fused multi-tensor AdamW and SGD over a parameter arena, one
// launch per step for every parameter group.
//
// The host splits every non-empty group [Offset, Offset+Len) into chunks of
// at most optimChunkLen = 8192 elements (kernels/gpu/optim.go) and uploads
// a table of optim_chunk entries, one per block: blockIdx.x = chunk. The
// table stays on the device and is uploaded again only when it changes (a
// new learning rate, new groups). A block walks
// its chunk with a block-stride loop (coalesced), so gaps between groups are
// never touched and no thread searches for its group. The per-group
// constants travel in the entry, so groups of any number share one launch.
//
// The values that change from step to step (the reference learning rate,
// AdamW's bias corrections, SGD's first-step flag) are read from a small
// device array, hyper, that the host fills before the step, so a step
// captured in a CUDA graph replays with each step's values.
//
// The arithmetic is the CPU backend's (kernels/cpu/adamw.go, sgd.go): every
// line PyTorch stores as a tensor is computed in float64 and rounded to
// float once, with the step-dependent scalars precomputed on the host in
// float64, so p, m, v and the momentum buffer agree with the CPU bit for bit
// in practice (nvcc may contract a double a*b+c into an FMA; the difference
// is far below float rounding). On an H100 the FP64 work (a division and a
// square root per element) stays under the memory time; on GPUs with
// 1/64-rate FP64 it would not.
#include "bf16.cuh"

// optim_chunk is one block's work: elements [offset, offset+len) of the
// arena with two per-group constants c0, c1 whose meaning depends on the
// kernel. 32 bytes, mirrored by optimChunk in kernels/gpu/optim.go.
struct optim_chunk {
	long long offset;
	int len;
	int pad;
	double c0;
	double c1;
};

// adamw_f32: one torch.optim.AdamW step (PyTorch 1.13 _single_tensor_adamw,
// amsgrad=False, maximize=False) over the chunks of a parameter arena:
// p, g, m, v are the arena's parameters, gradients and first and second
// moments (float32, same length); chunks[blockIdx.x] gives the range, the
// group's learning rate as c0 = lr/lr_ref and its weight decay c1 = wd. With
// hyper = {lr_ref, bc1, bc2_sqrt}, lr = lr_ref·c0, bc1 = 1 − β1^t and
// bc2_sqrt = sqrt(1 − β2^t), per element:
//   p = (float)(p·(1 − lr·wd))
//   m = (float)(β1·m + (1 − β1)·g),  v = (float)(β2·v + (1 − β2)·g·g)
//   p = (float)(p − (lr/bc1)·m / (sqrt(v)/bc2_sqrt + eps))
// Elements outside every chunk are not touched.
// Geometry: one block (256 threads) per chunk, block-stride loop; no
// barriers. Traffic: 28 bytes/element (4 loads, 3 stores); ~10 FP64 FLOPs,
// one FP64 sqrt and one FP64 division.
//
// adamw (the body of adamw_f32 and adamw_bf16) also stores, when p16 is not
// null, p16[i] = bf16(p[i]) of the updated element.
static __device__ __forceinline__ void adamw(float* p, const float* g, float* m, float* v, __nv_bfloat16* p16,
	const optim_chunk* chunks, const double* hyper, double beta1, double beta2, double eps) {
	const optim_chunk ch = chunks[blockIdx.x];
	const double lr_ref = hyper[0], bc1 = hyper[1], bc2_sqrt = hyper[2];
	float* ps = p + ch.offset;
	const float* gs = g + ch.offset;
	float* ms = m + ch.offset;
	float* vs = v + ch.offset;
	const double lr = lr_ref * ch.c0;
	const double decay = 1.0 - lr * ch.c1, neg_step = -(lr / bc1);
	for (int i = threadIdx.x; i < ch.len; i += blockDim.x) {
		const double gi = (double)gs[i];
		const double pi = (double)(float)((double)ps[i] * decay);
		const float mi = (float)((double)ms[i] * beta1 + (1.0 - beta1) * gi);
		const float vi = (float)((double)vs[i] * beta2 + (1.0 - beta2) * gi * gi);
		const double denom = sqrt((double)vi) / bc2_sqrt + eps;
		const float pn = (float)(pi + neg_step * (double)mi / denom);
		ps[i] = pn;
		ms[i] = mi;
		vs[i] = vi;
		if (p16 != nullptr) st_f32(p16, ch.offset + i, pn);
	}
}

extern "C" __global__ void __launch_bounds__(256) adamw_f32(float* p, const float* g, float* m, float* v,
	const optim_chunk* chunks, const double* hyper, double beta1, double beta2, double eps) {
	adamw(p, g, m, v, nullptr, chunks, hyper, beta1, beta2, eps);
}

// adamw_bf16 is adamw_f32 that also refreshes the bf16 copy of the
// parameters the matrix products read in bf16 precision (docs/BF16.md §3):
// p16[i] = bf16(p[i]) (nearest even) of every updated element, in the same
// pass; elements outside every chunk are not touched in p16 either.
// Traffic: 30 bytes/element.
extern "C" __global__ void __launch_bounds__(256) adamw_bf16(float* p, const float* g, float* m, float* v,
	__nv_bfloat16* p16, const optim_chunk* chunks, const double* hyper, double beta1, double beta2, double eps) {
	adamw(p, g, m, v, p16, chunks, hyper, beta1, beta2, eps);
}

// sgd_f32: one torch.optim.SGD step over the chunks of a parameter arena:
// p, g (and buf, the momentum buffer, null when momentum is 0) are float32
// arenas of the same length; chunks[blockIdx.x] gives the range with
// c0 = lr/lr_ref and c1 = weight decay (L2, added to the gradient);
// hyper = {lr_ref, first} (first is 1.0 on the first step, else 0.0);
// lr = lr_ref·c0. Per element,
// in float64:
//   d = g + wd·p                       (only when wd ≠ 0)
//   if momentum ≠ 0:
//     b = first ? d : momentum·buf + (1 − dampening)·d;  buf = (float)b
//     d = nesterov ? d + momentum·b : b
//   p = (float)(p − lr·d)
// Elements outside every chunk are not touched.
// Geometry: one block (256 threads) per chunk, block-stride loop; no
// barriers. Traffic: 12 bytes/element without momentum, 20 with.
extern "C" __global__ void __launch_bounds__(256) sgd_f32(float* p, const float* g, float* buf,
	const optim_chunk* chunks, const double* hyper, double momentum, double dampening, int nesterov) {
	const optim_chunk ch = chunks[blockIdx.x];
	const double lr_ref = hyper[0];
	const bool first = hyper[1] != 0.0;
	float* ps = p + ch.offset;
	const float* gs = g + ch.offset;
	float* bs = buf == nullptr ? nullptr : buf + ch.offset;
	const double lr = lr_ref * ch.c0, wd = ch.c1;
	for (int i = threadIdx.x; i < ch.len; i += blockDim.x) {
		double d = (double)gs[i];
		if (wd != 0.0) d += wd * (double)ps[i];
		if (momentum != 0.0) {
			double b = d;
			if (!first) b = momentum * (double)bs[i] + (1.0 - dampening) * d;
			bs[i] = (float)b;
			d = nesterov ? d + momentum * b : b;
		}
		ps[i] = (float)((double)ps[i] - lr * d);
	}
}
