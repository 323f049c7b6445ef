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

// channel_gate_bwd_f32: for each (n, c), dx[n, hw, c] = dy·(float)gate(g)
// for every hw (skipped when dx is null) and dg[n, c] = (float)(gate'(g)·
// Σ_hw (double)dy·(double)x), summed in hw order like the CPU.
// Geometry: 1-D, one thread per (n, c) (grid covers N·C); consecutive
// threads take consecutive channels, so each hw step reads a coalesced row.
// Traffic: 8 (12 with dx) bytes per element; one FP64 multiply-add.
extern "C" __global__ void channel_gate_bwd_f32(float* dx, float* dg, const float* dy, const float* x, const float* g,
                                                int N, int HW, int C, int kind) {
	const unsigned o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o >= (unsigned)N * (unsigned)C) return;
	const unsigned n = o / (unsigned)C, c = o % (unsigned)C;
	double deriv;
	const float gate = (float)gate_eval((double)g[o], kind, &deriv);
	const size_t base = (size_t)n * HW * C + c;
	double acc = 0.0;
	for (int h = 0; h < HW; h++) {
		const size_t i = base + (size_t)h * C;
		const float d = dy[i];
		acc += (double)d * (double)x[i];
		if (dx != nullptr) dx[i] = d * gate;
	}
	dg[o] = (float)(deriv * acc);
}
