// grn.cu: Global Response Normalization (ConvNeXt V2, Woo et al. 2023,
// eq. 1–3 with the official code's channel mean; docs/CONVNEXTV2.md section 1.5)
// over NHWC x [N, HW, C], forward and backward (kernels.NormOps):
//
//	g[n,c] = sqrt(Σ_hw x²),  D[n] = mean_c g[n,c] + eps,
//	a[n,c] = 1 + gamma[c]·g[n,c]/D[n],  y = x·a + beta.
//
// Each direction is one streaming statistics pass over the activations
// (per (n, c) sums over HW, split into row chunks so that there are enough
// blocks), a small per-sample kernel that turns the chunk sums into the
// per-(n, c) coefficients, and one streaming apply pass. Threads run along
// C, the contiguous NHWC axis, so every warp access is a coalesced run of
// 32 channels. All sums are formed in a fixed order: results do not depend
// on scheduling, and there are no atomics.
#include "bf16.cuh"
#include "reduce.cuh"

#define GRN_ROWS 8      // blockDim.y of the statistics kernels
#define GRN_THREADS 256 // threads of the per-sample and elementwise kernels

// grn_sumsq_f32 writes the chunk sums of squares
// part[n][k][c] = Σ_{hw in chunk k} x[n,hw,c]² for x [N, HW, C], chunk k
// covering rows [k·chunk, min((k+1)·chunk, HW)).
//
// Launch: block (32, 8), grid (ceil(C/32), ceil(HW/chunk), N). Thread
// (i, j) of block (cx, k, n) takes channel 32·cx + i and rows k·chunk + j,
// + 8, ...; the 8 row sums are added in order through shared memory.
// Traffic: 4 B read per element, 4·C B written per chunk; 2 FLOPs per
// element.
//
// The activation kernels (sumsq, apply, bwd_sums, bwd_apply) are templates
// on the storage type T of x, y, dy and dx; the _bf16 kernels at the end of
// the file instantiate them for bf16 activations (float32 sums and
// arithmetic, y and dx rounded once).
template <class T>
static __device__ __forceinline__ void grn_sumsq(float* part, const T* x, int HW, int C, int chunk, float (&sums)[GRN_ROWS][32]) {
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int n = blockIdx.z;
	const int h1 = min((k + 1) * chunk, HW);
	float s = 0.0f;
	if (c < C) {
		const T* xn = x + (size_t)n * HW * C + c;
		for (int h = k * chunk + threadIdx.y; h < h1; h += GRN_ROWS) {
			const float v = ld_f32(xn, (size_t)h * C);
			s += v * v;
		}
	}
	sums[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		float t = 0.0f;
		for (int j = 0; j < GRN_ROWS; j++) {
			t += sums[j][threadIdx.x];
		}
		part[((size_t)n * gridDim.y + k) * C + c] = t;
	}
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_sumsq_f32(float* part, const float* x, int HW, int C, int chunk) {
	__shared__ float sums[GRN_ROWS][32];
	grn_sumsq(part, x, HW, C, chunk, sums);
}

// grn_coef_f32 turns the chunk sums part [N][chunks][C] of grn_sumsq_f32
// into gnorm[n,c] = g = sqrt(Σ_k part[n][k][c]) and the scale
// coef[n,c] = 1 + gamma[c]·g/(mean_c g + eps) that grn_apply_f32 applies.
// An all-zero sample has g = 0 and coef = 1.
//
// Launch: block 256, grid N; thread t of block n takes channels t, t + 256,
// ... Traffic: 4·C·(chunks + 3) B per sample.
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_coef_f32(float* coef, float* gnorm, const float* part, const float* gamma, int chunks, int C, float eps) {
	__shared__ float2 red[32];
	const int n = blockIdx.x;
	float* gn = gnorm + (size_t)n * C;
	float m = 0.0f;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		float ss = 0.0f;
		for (int k = 0; k < chunks; k++) {
			ss += part[((size_t)n * chunks + k) * C + c];
		}
		const float g = sqrtf(ss);
		gn[c] = g;
		m += g;
	}
	const float inv_d = 1.0f / (block_sum2(m, 0.0f, red).x / (float)C + eps);
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		coef[(size_t)n * C + c] = 1.0f + gamma[c] * (gn[c] * inv_d);
	}
}

// grn_apply_f32 writes y[n,hw,c] = x[n,hw,c]·coef[n,c] + beta[c] for x, y
// [N, HW, C], coef [N, C], beta [C]. y may alias x.
//
// Launch: block 256, grid (ceil(HW·C/256), N); one element per thread.
// Traffic 8 B per element (coef and beta stay in L1/L2); 2 FLOPs.
template <class T>
static __device__ __forceinline__ void grn_apply(T* y, const T* x, const float* coef, const float* beta, int HW, int C) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < HW * C) {
		const int c = i % C;
		const size_t at = (size_t)blockIdx.y * HW * C + i;
		st_f32(y, at, ld_f32(x, at) * coef[(size_t)blockIdx.y * C + c] + beta[c]);
	}
}

extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_apply_f32(float* y, const float* x, const float* coef, const float* beta, int HW, int C) {
	grn_apply(y, x, coef, beta, HW, C);
}

// grn_bwd_sums_f32 writes the chunk sums part[n][k][0][c] = Σ dy·x and
// part[n][k][1][c] = Σ dy over the rows of chunk k, for dy and x
// [N, HW, C]. Launch as for grn_sumsq_f32; traffic 8 B read per element,
// 8·C B written per chunk.
template <class T>
static __device__ __forceinline__ void grn_bwd_sums(float* part, const T* dy, const T* x, int HW, int C, int chunk,
                                                    float (&sums)[2][GRN_ROWS][32]) {
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int n = blockIdx.z;
	const int h1 = min((k + 1) * chunk, HW);
	float sdx = 0.0f;
	float sd = 0.0f;
	if (c < C) {
		const size_t base = (size_t)n * HW * C + c;
		for (int h = k * chunk + threadIdx.y; h < h1; h += GRN_ROWS) {
			const float d = ld_f32(dy, base + (size_t)h * C);
			sdx += d * ld_f32(x, base + (size_t)h * C);
			sd += d;
		}
	}
	sums[0][threadIdx.y][threadIdx.x] = sdx;
	sums[1][threadIdx.y][threadIdx.x] = sd;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		float t0 = 0.0f;
		float t1 = 0.0f;
		for (int j = 0; j < GRN_ROWS; j++) {
			t0 += sums[0][j][threadIdx.x];
			t1 += sums[1][j][threadIdx.x];
		}
		float* p = part + ((size_t)n * gridDim.y + k) * 2 * C + c;
		p[0] = t0;
		p[C] = t1;
	}
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_bwd_sums_f32(float* part, const float* dy, const float* x, int HW, int C, int chunk) {
	__shared__ float sums[2][GRN_ROWS][32];
	grn_bwd_sums(part, dy, x, HW, C, chunk, sums);
}

// grn_bwd_coef_f32 turns the chunk sums part [N][chunks][2][C] of
// grn_bwd_sums_f32, the forward's gnorm [N, C] and gamma [C] into the
// per-sample coefficients of dx = dy·a + x·k (coef[n][0][c] = a,
// coef[n][1][c] = k) and the sample's shares of the parameter gradients
// (share[n][0][c] for dgamma, share[n][1][c] for dbeta). With
// S_c = Σ_hw dy·x, D = mean_c g + eps:
//
//	a_c = 1 + gamma_c·g_c/D
//	k_c = (gamma_c·S_c/D − Σ_j gamma_j·S_j·g_j/(C·D²)) / g_c   (0 where g_c = 0)
//	dgamma_c share = S_c·g_c/D,  dbeta_c share = Σ_hw dy
//
// (the derivation is in kernels/cpu/grn.go; where g_c = 0 the gradient
// through the norm is taken as 0, as PyTorch's torch.norm backward does, so
// an all-zero sample gets dx = dy).
//
// Launch: block 256, grid N; thread t of block n takes channels t, t + 256,
// ... Traffic: 8·C·(chunks + 4) B per sample.
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_coef_f32(float* coef, float* share, const float* part, const float* gnorm, const float* gamma, int chunks,
                     int C, float eps) {
	__shared__ float2 red[32];
	const int n = blockIdx.x;
	const float* gn = gnorm + (size_t)n * C;
	float* sh = share + (size_t)n * 2 * C;
	float m = 0.0f;
	float cross = 0.0f;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		float s = 0.0f;
		float sd = 0.0f;
		for (int k = 0; k < chunks; k++) {
			const float* p = part + ((size_t)n * chunks + k) * 2 * C + c;
			s += p[0];
			sd += p[C];
		}
		sh[c] = s;
		sh[C + c] = sd;
		m += gn[c];
		cross += gamma[c] * s * gn[c];
	}
	const float2 t = block_sum2(m, cross, red);
	const float d = t.x / (float)C + eps;
	const float inv_d = 1.0f / d;
	const float cross_d = t.y / ((float)C * d * d);
	float* cf = coef + (size_t)n * 2 * C;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		const float g = gn[c];
		const float s = sh[c];
		cf[c] = 1.0f + gamma[c] * (g * inv_d);
		cf[C + c] = g > 0.0f ? (gamma[c] * s * inv_d - cross_d) / g : 0.0f;
		sh[c] = s * (g * inv_d);
	}
}

// grn_bwd_apply_f32 writes dx[n,hw,c] = dy·coef[n][0][c] + x·coef[n][1][c]
// for dx, dy, x [N, HW, C]. dx may alias dy.
//
// Launch: block 256, grid (ceil(HW·C/256), N); one element per thread.
// Traffic 12 B per element; 3 FLOPs.
template <class T>
static __device__ __forceinline__ void grn_bwd_apply(T* dx, const T* dy, const T* x, const float* coef, int HW, int C) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < HW * C) {
		const int c = i % C;
		const size_t at = (size_t)blockIdx.y * HW * C + i;
		const float* cf = coef + (size_t)blockIdx.y * 2 * C;
		st_f32(dx, at, ld_f32(dy, at) * cf[c] + ld_f32(x, at) * cf[C + c]);
	}
}

extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_apply_f32(float* dx, const float* dy, const float* x, const float* coef, int HW, int C) {
	grn_bwd_apply(dx, dy, x, coef, HW, C);
}

// grn_bwd_params_f32 adds the samples' shares share [N][2][C] of
// grn_bwd_coef_f32 to the parameter gradients in sample order:
// dgamma[c] += Σ_n share[n][0][c], dbeta[c] += Σ_n share[n][1][c].
//
// Launch: block 256, grid ceil(C/256). Traffic 8·C·(N + 2) B.
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_params_f32(float* dgamma, float* dbeta, const float* share, int N, int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		float sg = 0.0f;
		float sb = 0.0f;
		for (int n = 0; n < N; n++) {
			sg += share[(size_t)n * 2 * C + c];
			sb += share[(size_t)n * 2 * C + C + c];
		}
		dgamma[c] += sg;
		dbeta[c] += sb;
	}
}

// grn_sumsq_bf16, grn_apply_bf16, grn_bwd_sums_bf16 and grn_bwd_apply_bf16
// are the float32 kernels of the same names on bf16 activations. Launch
// as those; activation traffic 2 B per element and tensor.
extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_sumsq_bf16(float* part, const __nv_bfloat16* x, int HW, int C, int chunk) {
	__shared__ float sums[GRN_ROWS][32];
	grn_sumsq(part, x, HW, C, chunk, sums);
}

extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_apply_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, const float* coef, const float* beta, int HW, int C) {
	grn_apply(y, x, coef, beta, HW, C);
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_bwd_sums_bf16(float* part, const __nv_bfloat16* dy, const __nv_bfloat16* x, int HW, int C, int chunk) {
	__shared__ float sums[2][GRN_ROWS][32];
	grn_bwd_sums(part, dy, x, HW, C, chunk, sums);
}

extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_apply_bf16(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* x, const float* coef, int HW,
                       int C) {
	grn_bwd_apply(dx, dy, x, coef, HW, C);
}
