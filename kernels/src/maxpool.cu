// maxpool.cu: K×K max pooling with stride S and padding P over NHWC
// activations, x [N, H, W, C] → y [N, OH, OW, C] (PyTorch's nn.MaxPool2d;
// ResNet's stem pools 3×3, stride 2, pad 1), and its backward
// (kernels.ActivationOps.MaxPool, MaxPoolBackward). Padded positions never
// win. The winner of a window is its first maximum in row-major window
// order, and a NaN wins over every number (the last NaN of the window),
// the rule of PyTorch's max pool kernels (`val > maxval || isnan(val)`) and
// of kernels/cpu. The backward recomputes the winners instead of storing
// them: no index tensor to keep between the passes, and each dx element is
// a sum formed in a fixed order (see maxpool_bwd), so the kernels are
// deterministic and equal kernels/cpu bit for bit.
#include "bf16.cuh"

// maxpool_arg returns the input position h·W + w of the winner of output
// (i, j)'s window in the image plane xc (x at image n, channel c; elements
// C apart) and stores its value in *best. Every window holds an input pixel
// (kernels.MaxPoolShape.Validate: P ≤ K/2), so a winner always exists.
template <class T>
static __device__ __forceinline__ int maxpool_arg(float* best, const T* xc, int i, int j, int H, int W, int C, int K, int S,
                                                  int P) {
	const int h0 = max(i * S - P, 0), h1 = min(i * S - P + K, H);
	const int w0 = max(j * S - P, 0), w1 = min(j * S - P + K, W);
	float m = 0.0f;
	int at = -1;
	for (int h = h0; h < h1; h++) {
		for (int w = w0; w < w1; w++) {
			const float v = ld_f32(xc, (long long)(h * W + w) * C);
			if (at < 0 || v > m || isnan(v)) {
				m = v;
				at = h * W + w;
			}
		}
	}
	*best = m;
	return at;
}

// maxpool_fwd_f32: y[n, i, j, c] = the maximum of x[n, h, w, c] over the
// window h ∈ [i·S − P, i·S − P + K), w ∈ [j·S − P, j·S − P + K) clipped to
// the image.
// Geometry: 1-D grid-stride over the N·OH·OW·C outputs (256 threads, at most
// 4096 blocks); consecutive threads take consecutive channels, so each of
// the K² window reads of a warp is one coalesced row segment. Traffic: the
// input once from DRAM (overlapping windows hit in L1/L2), 4 bytes written
// per output; K² compares.
template <class T>
static __device__ __forceinline__ void maxpool_fwd(T* y, const T* x, int N, int H, int W, int C, int K, int S, int P, int OH,
                                                   int OW) {
	const unsigned n_out = (unsigned)N * (unsigned)OH * (unsigned)OW * (unsigned)C;
	for (unsigned o = blockIdx.x * blockDim.x + threadIdx.x; o < n_out; o += gridDim.x * blockDim.x) {
		const unsigned c = o % (unsigned)C, t = o / (unsigned)C;
		const int j = (int)(t % (unsigned)OW), i = (int)(t / (unsigned)OW % (unsigned)OH);
		const unsigned n = t / ((unsigned)OW * (unsigned)OH);
		float m;
		maxpool_arg(&m, x + (size_t)n * H * W * C + c, i, j, H, W, C, K, S, P);
		st_f32(y, o, m);
	}
}

// maxpool_bwd_f32: dx[n, h, w, c] = Σ dy[n, i, j, c] over the outputs (i, j)
// whose window's winner is (h, w), added in row-major (i, j) order starting
// from 0 — the order in which kernels/cpu scatters, so the sums agree bit
// for bit. Overwrites dx.
// Geometry: 1-D grid-stride over the N·H·W·C elements of dx (256 threads,
// at most 4096 blocks), one thread per element gathering from the at most
// ⌈K/S⌉² windows that contain it and recomputing each one's winner (no
// atomics, no index tensor). Traffic: dx written once, dy and x read once
// from DRAM (the ⌈K/S⌉²·K² re-reads of x hit in cache); ⌈K/S⌉²·K² compares.
template <class T>
static __device__ __forceinline__ void maxpool_bwd(T* dx, const T* dy, const T* x, int N, int H, int W, int C, int K, int S,
                                                   int P, int OH, int OW) {
	const unsigned n_in = (unsigned)N * (unsigned)H * (unsigned)W * (unsigned)C;
	for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < n_in; e += gridDim.x * blockDim.x) {
		const unsigned c = e % (unsigned)C, t = e / (unsigned)C;
		const int w = (int)(t % (unsigned)W), h = (int)(t / (unsigned)W % (unsigned)H);
		const unsigned n = t / ((unsigned)W * (unsigned)H);
		// Windows i with i·S − P ≤ h < i·S − P + K.
		const int ah = h + P - K + 1, aw = w + P - K + 1;
		const int i0 = ah <= 0 ? 0 : (ah + S - 1) / S, i1 = min((h + P) / S, OH - 1);
		const int j0 = aw <= 0 ? 0 : (aw + S - 1) / S, j1 = min((w + P) / S, OW - 1);
		const T* xc = x + (size_t)n * H * W * C + c;
		const T* dyc = dy + (size_t)n * OH * OW * C + c;
		float acc = 0.0f, m;
		for (int i = i0; i <= i1; i++) {
			for (int j = j0; j <= j1; j++) {
				if (maxpool_arg(&m, xc, i, j, H, W, C, K, S, P) == h * W + w) {
					acc += ld_f32(dyc, (long long)(i * OW + j) * C);
				}
			}
		}
		st_f32(dx, e, acc);
	}
}

extern "C" __global__ void maxpool_fwd_f32(float* y, const float* x, int N, int H, int W, int C, int K, int S, int P, int OH,
                                           int OW) {
	maxpool_fwd(y, x, N, H, W, C, K, S, P, OH, OW);
}

extern "C" __global__ void maxpool_bwd_f32(float* dx, const float* dy, const float* x, int N, int H, int W, int C, int K, int S,
                                           int P, int OH, int OW) {
	maxpool_bwd(dx, dy, x, N, H, W, C, K, S, P, OH, OW);
}

// maxpool_fwd_bf16 and maxpool_bwd_bf16 are the kernels above on bf16
// activations: the maximum of bf16 values is stored exactly, and each dx
// sum is formed in float32 and rounded once.
extern "C" __global__ void maxpool_fwd_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, int N, int H, int W, int C, int K, int S,
                                            int P, int OH, int OW) {
	maxpool_fwd(y, x, N, H, W, C, K, S, P, OH, OW);
}

extern "C" __global__ void maxpool_bwd_bf16(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* x, int N, int H,
                                            int W, int C, int K, int S, int P, int OH, int OW) {
	maxpool_bwd(dx, dy, x, N, H, W, C, K, S, P, OH, OW);
}
