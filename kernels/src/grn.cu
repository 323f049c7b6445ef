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
// on scheduling, and there are no atomics. On bf16 activations the apply
// passes take 8 elements a thread, and the statistics passes have _v8_bf16
// variants (at the end of the file) that take 8 channels a thread with
// 16-byte loads, adding in the same order as the scalar ones.
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
// The statistics kernels (sumsq, bwd_sums) are templates on the storage
// type T of x and dy; the _bf16 kernels at the end of the file instantiate
// them for bf16 activations, and run the apply passes through grn_map8
// (float32 sums and arithmetic, y and dx rounded once).
template <class T>
static __device__ __forceinline__ void grn_sumsq(float* __restrict__ part, const T* __restrict__ x, int HW, int C,
                                                 int chunk, float (&sums)[GRN_ROWS][32]) {
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
	const float t = rows_sum(s, sums);
	if (threadIdx.y == 0 && c < C) {
		part[((size_t)n * gridDim.y + k) * C + c] = t;
	}
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_sumsq_f32(float* __restrict__ part, const float* __restrict__ x, int HW, int C, int chunk) {
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
    grn_coef_f32(float* __restrict__ coef, float* __restrict__ gnorm, const float* __restrict__ part,
                 const float* __restrict__ gamma, int chunks, int C, float eps) {
	__shared__ float2 red[32];
	const int n = blockIdx.x;
	float* gn = gnorm + (size_t)n * C;
	float m = 0.0f;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		const float g = sqrtf(strided_sum(part + (size_t)n * chunks * C + c, chunks, C));
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
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_apply_f32(float* y, const float* x, const float* coef, const float* beta, int HW, int C) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < HW * C) {
		const int c = i % C;
		const size_t at = (size_t)blockIdx.y * HW * C + i;
		y[at] = x[at] * coef[(size_t)blockIdx.y * C + c] + beta[c];
	}
}

// grn_bwd_sums_f32 writes the chunk sums part[n][k][0][c] = Σ dy·x and
// part[n][k][1][c] = Σ dy over the rows of chunk k, for dy and x
// [N, HW, C]. Launch as for grn_sumsq_f32; traffic 8 B read per element,
// 8·C B written per chunk.
template <class T>
static __device__ __forceinline__ void grn_bwd_sums(float* __restrict__ part, const T* __restrict__ dy,
                                                    const T* __restrict__ x, int HW, int C, int chunk,
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
	const float t0 = rows_sum(sdx, sums[0]);
	const float t1 = rows_sum(sd, sums[1]);
	if (threadIdx.y == 0 && c < C) {
		float* p = part + ((size_t)n * gridDim.y + k) * 2 * C + c;
		p[0] = t0;
		p[C] = t1;
	}
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_bwd_sums_f32(float* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x, int HW, int C,
                     int chunk) {
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
    grn_bwd_coef_f32(float* __restrict__ coef, float* __restrict__ share, const float* __restrict__ part,
                     const float* __restrict__ gnorm, const float* __restrict__ gamma, int chunks, int C, float eps) {
	__shared__ float2 red[32];
	const int n = blockIdx.x;
	const float* gn = gnorm + (size_t)n * C;
	float* sh = share + (size_t)n * 2 * C;
	float m = 0.0f;
	float cross = 0.0f;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		const float* p = part + (size_t)n * chunks * 2 * C + c;
		const float s = strided_sum(p, chunks, 2 * (size_t)C);
		sh[c] = s;
		sh[C + c] = strided_sum(p + C, chunks, 2 * (size_t)C);
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
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_apply_f32(float* dx, const float* dy, const float* x, const float* coef, int HW, int C) {
	const int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < HW * C) {
		const int c = i % C;
		const size_t at = (size_t)blockIdx.y * HW * C + i;
		const float* cf = coef + (size_t)blockIdx.y * 2 * C;
		dx[at] = dy[at] * cf[c] + x[at] * cf[C + c];
	}
}

// grn_bwd_params_f32 adds the samples' shares share [N][2][C] of
// grn_bwd_coef_f32 to the parameter gradients in sample order:
// dgamma[c] += Σ_n share[n][0][c], dbeta[c] += Σ_n share[n][1][c].
//
// Launch: block 256, grid ceil(C/256). Traffic 8·C·(N + 2) B.
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_params_f32(float* __restrict__ dgamma, float* __restrict__ dbeta, const float* __restrict__ share, int N,
                       int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		dgamma[c] += strided_sum(share + c, N, 2 * (size_t)C);
		dbeta[c] += strided_sum(share + C + c, N, 2 * (size_t)C);
	}
}

// grn_sumsq_bf16, grn_apply_bf16, grn_bwd_sums_bf16 and grn_bwd_apply_bf16
// are the float32 kernels of the same names on bf16 activations (float32
// arithmetic, as written there); activation traffic 2 B per element and
// tensor. The statistics kernels launch as the float32 ones; the apply
// kernels take 8 elements a thread with 16-byte vector accesses.
extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_sumsq_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ x, int HW, int C, int chunk) {
	__shared__ float sums[GRN_ROWS][32];
	grn_sumsq(part, x, HW, C, chunk, sums);
}

// grn_map8 writes y[i] = f(a[i], b[i], i mod C) for the HW·C elements i of
// sample blockIdx.y of y, a and b [N, HW, C] (b optional: nullptr gives f
// zeros), thread t of the sample's blocks taking the elements [8t, 8t + 8):
// 16-byte vector loads and stores when y, a and b of the sample are
// 16-byte aligned, scalar ones for a partial last group or an unaligned
// sample. y may alias a or b (each element is read and written by one
// thread).
//
// Launch: block 256, grid (ceil(HW·C/8/256), N).
template <class F>
static __device__ __forceinline__ void grn_map8(__nv_bfloat16* y, const __nv_bfloat16* a, const __nv_bfloat16* b,
                                                int HW, int C, F f) {
	const long long per = (long long)HW * C;
	const long long i0 = 8 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
	if (i0 >= per) {
		return;
	}
	const long long base = (long long)blockIdx.y * per;
	y += base;
	a += base;
	if (b != nullptr) {
		b += base;
	}
	int c = (int)(i0 % C);
	if (i0 + 8 <= per && aligned16(y) && aligned16(a) && (b == nullptr || aligned16(b))) {
		float va[8], vb[8] = {0, 0, 0, 0, 0, 0, 0, 0}, out[8];
		ld8(a, i0, va);
		if (b != nullptr) ld8(b, i0, vb);
#pragma unroll
		for (int k = 0; k < 8; k++) {
			out[k] = f(va[k], vb[k], c);
			c = c + 1 == C ? 0 : c + 1;
		}
		st8(y, i0, out);
		return;
	}
	const long long i1 = i0 + 8 < per ? i0 + 8 : per;
	for (long long i = i0; i < i1; i++) {
		st_f32(y, i, f(ld_f32(a, i), b != nullptr ? ld_f32(b, i) : 0.0f, (int)(i % C)));
	}
}

// grn_apply_bf16 is grn_apply_f32 on bf16 x and y, 8 elements a thread
// (grn_map8): grid (ceil(HW·C/8/256), N).
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_apply_bf16(__nv_bfloat16* y, const __nv_bfloat16* x, const float* __restrict__ coef,
                   const float* __restrict__ beta, int HW, int C) {
	const float* cf = coef + (size_t)blockIdx.y * C;
	grn_map8(y, x, nullptr, HW, C, [cf, beta](float v, float, int c) { return v * cf[c] + beta[c]; });
}

extern "C" __global__ void __launch_bounds__(32 * GRN_ROWS)
    grn_bwd_sums_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy, const __nv_bfloat16* __restrict__ x,
                      int HW, int C, int chunk) {
	__shared__ float sums[2][GRN_ROWS][32];
	grn_bwd_sums(part, dy, x, HW, C, chunk, sums);
}

// grn_bwd_apply_bf16 is grn_bwd_apply_f32 on bf16 dx, dy and x, 8
// elements a thread (grn_map8): grid (ceil(HW·C/8/256), N).
extern "C" __global__ void __launch_bounds__(GRN_THREADS)
    grn_bwd_apply_bf16(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* x, const float* __restrict__ coef,
                       int HW, int C) {
	const float* cf = coef + (size_t)blockIdx.y * 2 * C;
	grn_map8(dx, dy, x, HW, C, [cf, C](float d, float v, int c) { return d * cf[c] + v * cf[C + c]; });
}

// grn_sumsq_v8_bf16 and grn_bwd_sums_v8_bf16 are grn_sumsq_bf16 and
// grn_bwd_sums_bf16 with 8 consecutive channels a thread, read with one
// 16-byte load a row and tensor (ld8). The host launches them when C is a
// multiple of 8 and the activations start 16-byte aligned (then every row
// of every sample is), the scalar kernels otherwise. Each channel's values
// are added in the scalar kernels' order (rows k·chunk + j, + 8, ...; then
// the 8 row sums in row order, rows_sum8), so the chunk sums, and every
// result computed from them, are bit-identical to the scalar kernels'.
//
// Launch: block (STATS_VX, 8), grid (ceil(C/(8·STATS_VX)), ceil(HW/chunk), N).
// Thread (i, j) of block (cx, k, n) takes channels [8·(STATS_VX·cx + i),
// + 8); a warp reads 4 rows of 128 contiguous bytes. Traffic as the scalar
// kernels.
extern "C" __global__ void __launch_bounds__(STATS_VX * GRN_ROWS)
    grn_sumsq_v8_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ x, int HW, int C, int chunk) {
	__shared__ float sums[GRN_ROWS][8][STATS_VX];
	const stats8 t = stats8_at(HW, C, chunk);
	float s[8] = {};
	if (t.c < C) {
		for (int h = t.r0; h < t.r1; h += GRN_ROWS) {
			float v[8];
			ld8(x, t.base + (size_t)h * C, v);
#pragma unroll
			for (int q = 0; q < 8; q++) {
				s[q] += v[q] * v[q];
			}
		}
	}
	rows_sum8(part + t.part * C + t.c, s, sums, t.c < C);
}

extern "C" __global__ void __launch_bounds__(STATS_VX * GRN_ROWS)
    grn_bwd_sums_v8_bf16(float* __restrict__ part, const __nv_bfloat16* __restrict__ dy,
                         const __nv_bfloat16* __restrict__ x, int HW, int C, int chunk) {
	__shared__ float sums[2][GRN_ROWS][8][STATS_VX];
	const stats8 t = stats8_at(HW, C, chunk);
	float sdx[8] = {};
	float sd[8] = {};
	if (t.c < C) {
		for (int h = t.r0; h < t.r1; h += GRN_ROWS) {
			float d[8], v[8];
			ld8(dy, t.base + (size_t)h * C, d);
			ld8(x, t.base + (size_t)h * C, v);
#pragma unroll
			for (int q = 0; q < 8; q++) {
				sdx[q] += d[q] * v[q];
				sd[q] += d[q];
			}
		}
	}
	float* p = part + t.part * 2 * C + t.c;
	rows_sum8(p, sdx, sums[0], t.c < C);
	rows_sum8(p + C, sd, sums[1], t.c < C);
}
