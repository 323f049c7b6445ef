// gate.cu: the channel gate of squeeze-and-excitation and ECA over NHWC
// activations, y[n, hw, c] = x[n, hw, c]·gate(g[n, c]) with x, y [N, HW, C]
// and the gate logits g [N, C], and its backward. float32 tensors; the gate
// (sigmoid or hard sigmoid, kernels.GateKind) is evaluated in float64 and
// rounded once, and dg's sums are float64, like kernels/cpu, so the results
// agree with the CPU backend to within an ulp.
#include "compat.cuh"

// gate_eval returns gate kind (0 sigmoid, 1 hard sigmoid relu6(v+3)/6) at v
// and writes its derivative to *deriv (hard sigmoid: 1/6 strictly inside
// (−3, 3), else 0, as PyTorch's hardsigmoid_backward). A NaN v gives NaN for
// both: the comparisons below are false for NaN, so it falls through.
static __device__ double gate_eval(double v, int kind, double* deriv) {
	if (kind == 1) {
		const double t = v + 3.0;
		if (t > 0.0 && t < 6.0) {
			*deriv = 1.0 / 6.0;
			return t / 6.0;
		}
		if (t <= 0.0) {
			*deriv = 0.0;
			return 0.0;
		}
		if (t >= 6.0) {
			*deriv = 0.0;
			return 1.0;
		}
		*deriv = v;
		return v;
	}
	const double s = 1.0 / (1.0 + exp(-v));
	*deriv = s * (1.0 - s);
	return s;
}

// channel_gate_fwd_f32: y[i] = x[i]·(float)gate(g[n, c]) for the
// N·HW·C elements, n = i / (HW·C), c = i mod C. y may alias x, not g.
// Geometry: 1-D grid-stride (256 threads, at most 4096 blocks). Traffic:
// 8 bytes/element (g stays in cache); one FP64 exp per element for the
// sigmoid.
extern "C" __global__ void channel_gate_fwd_f32(float* y, const float* x, const float* g, int N, int HW, int C, int kind) {
	const unsigned n_el = (unsigned)N * (unsigned)HW * (unsigned)C;
	const unsigned per = (unsigned)HW * (unsigned)C;
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n_el; i += stride) {
		double d;
		const unsigned gi = (i / per) * (unsigned)C + i % (unsigned)C;
		y[i] = x[i] * (float)gate_eval((double)g[gi], kind, &d);
	}
}

// channel_gate_bwd_f32: for each (n, c) and the hw chunk blockIdx.y,
// hw in [blockIdx.y·hw_per, min(HW, (blockIdx.y + 1)·hw_per)):
// dx[n, hw, c] = dy·(float)gate(g) (skipped when dx is null) and
// part[blockIdx.y, n, c] = Σ_hw (double)dy·(double)x in hw order, the
// chunk's share of dg's sum (channel_gate_dg_f32 adds the chunks).
// Geometry: 2-D; x covers the N·C (n, c) pairs, consecutive threads taking
// consecutive channels so that each hw step reads a coalesced row; y the
// chunks (gridDim.y ≤ 65535), which the launcher makes numerous enough to
// fill the GPU when N·C is small (SE on an early, wide feature map).
// Traffic: 8 (12 with dx) bytes per element; one FP64 multiply-add.
extern "C" __global__ void channel_gate_bwd_f32(float* dx, double* part, const float* dy, const float* x, const float* g,
                                                int N, int HW, int C, int kind, int hw_per) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	const unsigned nc = (unsigned)N * (unsigned)C;
	if (o >= nc) return;
	const unsigned n = o / (unsigned)C, c = o % (unsigned)C;
	double deriv;
	const float gate = (float)gate_eval((double)g[o], kind, &deriv);
	const int h0 = (int)blockIdx.y * hw_per;
	const int h1 = min(HW, h0 + hw_per);
	const size_t base = (size_t)n * HW * C + c;
	double acc = 0.0;
	for (int h = h0; h < h1; h++) {
		const size_t i = base + (size_t)h * C;
		const float d = dy[i];
		acc += (double)d * (double)x[i];
		if (dx != nullptr) dx[i] = d * gate;
	}
	part[(size_t)blockIdx.y * nc + o] = acc;
}

// channel_gate_dg_f32: dg[n, c] = (float)(gate'(g[n, c])·Σ_k part[k, n, c])
// over the chunks k < chunks in order, the last step of
// channel_gate_bwd_f32's sum.
// Geometry: 1-D, one thread per (n, c). Traffic: 8·chunks + 8 bytes per
// output.
extern "C" __global__ void channel_gate_dg_f32(float* dg, const double* part, const float* g, int N, int C, int kind, int chunks) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	const unsigned nc = (unsigned)N * (unsigned)C;
	if (o >= nc) return;
	double deriv;
	gate_eval((double)g[o], kind, &deriv);
	double acc = 0.0;
	for (int k = 0; k < chunks; k++) acc += part[(size_t)k * nc + o];
	dg[o] = (float)(deriv * acc);
}
