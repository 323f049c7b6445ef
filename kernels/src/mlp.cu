// mlp.cu: the fused elementwise passes of the ConvNeXt V2 block's MLP
// between fc1 and fc2 (kernels.MLPOps), over the hidden tensor [N, HW, C]:
//
//	forward:  h = GELU_erf(a + b1) and the GRN sums of squares Σ_hw h²
//	backward: dh = GRN apply backward, da = dh·GELU'(a + b1), db1 = Σ da
//
// a is fc1's product, without its bias in fp32 and tf32 (b1 is added here,
// saving bias_add_f32's pass) and with it in bf16 (cuBLASLt's BIAS epilogue
// adds the bf16 bias before the product's one rounding, as autocast does;
// b1 is then null here). The forward replaces the bias add,
// the GELU and GRN's sum-of-squares pass by one pass (read a, write h);
// GRN then runs only its coefficient and apply kernels (grn.cu). The
// backward keeps GRN's statistics pass (grn_bwd_sums_f32, which the
// coefficients need before any dh exists) and replaces GRN's apply pass,
// the GELU backward and the bias column sum by one pass (read dy, h, a,
// write da). The geometry is that of grn.cu's statistics kernels: block
// (32, 8), grid (ceil(C/32), chunks of HW rows, N); threads run along C,
// so warp accesses are coalesced runs of 32 channels, and every sum is
// formed in a fixed order (no atomics). The activation kernels are
// templates on the storage type T of a, h, dy and da (float, or
// __nv_bfloat16 for the _bf16 kernels): float32 arithmetic and sums, each
// bf16 output rounded once; the forward's sums square the stored (rounded)
// h, which GRN's apply pass then reads. The bf16 kernels have _v8_bf16
// variants (at the end of the file) that move 8 channels a thread with
// 16-byte accesses, bit-identical to them; the host picks those when C is
// a multiple of 8 and the activations are 16-byte aligned.
#include "bf16.cuh"
#include "gelu.cuh"
#include "reduce.cuh"

#define MLP_ROWS 8      // blockDim.y of the chunked kernels
#define MLP_THREADS 256 // threads of the per-channel kernels

// st_stored stores v into element i of p (rounded to nearest even for
// bf16) and returns the value stored.
static __device__ __forceinline__ float st_stored(float* p, long long i, float v) {
	p[i] = v;
	return v;
}
static __device__ __forceinline__ float st_stored(__nv_bfloat16* p, long long i, float v) {
	const __nv_bfloat16 r = __float2bfloat16_rn(v);
	p[i] = r;
	return __bfloat162float(r);
}

// mlp_da returns da = (dy·ca + h·ck)·GELU_erf'(a + b) for one element:
// GRN's dx (coefficients ca, ck) through the GELU at a + b. The scalar and
// the 8-channel backward kernels share it, so both form the same
// expression (and the same fused multiply-adds).
static __device__ __forceinline__ float mlp_da(float dy, float h, float a, float b, float ca, float ck) {
	return (dy * ca + h * ck) * gelu_grad(a + b, 0);
}

// mlp_fwd_f32 writes h[n,hw,c] = GELU_erf(a[n,hw,c] + bias[c]) (bias null:
// a already holds it, added by fc1's product) and the
// chunk sums of squares part[n][k][c] = Σ_{hw in chunk k} h² for a and h
// [N, HW, C] (h must not alias a), chunk k covering rows
// [k·chunk, min((k+1)·chunk, HW)).
//
// Launch: block (32, 8), grid (ceil(C/32), ceil(HW/chunk), N). Traffic:
// 8 B per element, 4·C B per chunk; about 22 FLOPs per element.
template <class T>
static __device__ __forceinline__ void mlp_fwd(T* __restrict__ h, float* __restrict__ part, const T* __restrict__ a,
                                               const float* __restrict__ bias, int HW, int C, int chunk,
                                               float (&sums)[MLP_ROWS][32]) {
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int n = blockIdx.z;
	const int h1 = min((k + 1) * chunk, HW);
	float s = 0.0f;
	if (c < C) {
		const float b = bias ? bias[c] : 0.f;
		const size_t base = (size_t)n * HW * C + c;
		for (int r = k * chunk + threadIdx.y; r < h1; r += MLP_ROWS) {
			const size_t at = base + (size_t)r * C;
			const float v = st_stored(h, at, gelu_act(ld_f32(a, at) + b, 0));
			s += v * v;
		}
	}
	const float t = rows_sum(s, sums);
	if (threadIdx.y == 0 && c < C) {
		part[((size_t)n * gridDim.y + k) * C + c] = t;
	}
}

extern "C" __global__ void __launch_bounds__(32 * MLP_ROWS)
    mlp_fwd_f32(float* __restrict__ h, float* __restrict__ part, const float* __restrict__ a,
                const float* __restrict__ bias, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][32];
	mlp_fwd(h, part, a, bias, HW, C, chunk, sums);
}

// mlp_fwd_bf16 is mlp_fwd_f32 on bf16 a and h; traffic 4 B per element.
extern "C" __global__ void __launch_bounds__(32 * MLP_ROWS)
    mlp_fwd_bf16(__nv_bfloat16* __restrict__ h, float* __restrict__ part, const __nv_bfloat16* __restrict__ a,
                 const float* __restrict__ bias, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][32];
	mlp_fwd(h, part, a, bias, HW, C, chunk, sums);
}

// mlp_sum_chunks_f32 writes sumsq[n,c] = Σ_k part[n][k][c] over the chunks
// k in order, the sum grn_coef_f32 forms from its own chunk sums.
//
// Launch: block 256, grid (ceil(C/256), N). Traffic 4·C·(chunks + 1) B per
// sample.
extern "C" __global__ void __launch_bounds__(MLP_THREADS)
    mlp_sum_chunks_f32(float* __restrict__ sumsq, const float* __restrict__ part, int chunks, int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	const int n = blockIdx.y;
	if (c < C) {
		sumsq[(size_t)n * C + c] = strided_sum(part + (size_t)n * chunks * C + c, chunks, C);
	}
}

// mlp_bwd_f32 writes da = (dy·coef[n][0][c] + h·coef[n][1][c])·GELU_erf'(a
// + bias[c]) (bias null as in mlp_fwd_f32) for dy, h, a and da [N, HW, C] (da aliases none of them),
// coef [N][2][C] from grn_bwd_coef_f32 (GRN's dx = dy·a_c + x·k_c with
// x = h), and the chunk sums bpart[n][k][c] = Σ_{hw in chunk k} da of the
// bias gradient.
//
// Launch as mlp_fwd_f32. Traffic 16 B per element, 4·C B per chunk; about
// 35 FLOPs per element.
template <class T>
static __device__ __forceinline__ void mlp_bwd(T* __restrict__ da, float* __restrict__ bpart, const T* __restrict__ dy,
                                               const T* __restrict__ h, const T* __restrict__ a,
                                               const float* __restrict__ bias, const float* __restrict__ coef, int HW,
                                               int C, int chunk, float (&sums)[MLP_ROWS][32]) {
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int n = blockIdx.z;
	const int h1 = min((k + 1) * chunk, HW);
	float s = 0.0f;
	if (c < C) {
		const float b = bias ? bias[c] : 0.f;
		const float ca = coef[(size_t)n * 2 * C + c];
		const float ck = coef[(size_t)n * 2 * C + C + c];
		const size_t base = (size_t)n * HW * C + c;
		for (int r = k * chunk + threadIdx.y; r < h1; r += MLP_ROWS) {
			const size_t at = base + (size_t)r * C;
			const float d = mlp_da(ld_f32(dy, at), ld_f32(h, at), ld_f32(a, at), b, ca, ck);
			st_f32(da, at, d);
			s += d;
		}
	}
	const float t = rows_sum(s, sums);
	if (threadIdx.y == 0 && c < C) {
		bpart[((size_t)n * gridDim.y + k) * C + c] = t;
	}
}

extern "C" __global__ void __launch_bounds__(32 * MLP_ROWS)
    mlp_bwd_f32(float* __restrict__ da, float* __restrict__ bpart, const float* __restrict__ dy,
                const float* __restrict__ h, const float* __restrict__ a, const float* __restrict__ bias,
                const float* __restrict__ coef, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][32];
	mlp_bwd(da, bpart, dy, h, a, bias, coef, HW, C, chunk, sums);
}

// mlp_bwd_bf16 is mlp_bwd_f32 on bf16 dy, h, a and da (the bias sums add
// da before its rounding); traffic 8 B per element.
extern "C" __global__ void __launch_bounds__(32 * MLP_ROWS)
    mlp_bwd_bf16(__nv_bfloat16* __restrict__ da, float* __restrict__ bpart, const __nv_bfloat16* __restrict__ dy,
                 const __nv_bfloat16* __restrict__ h, const __nv_bfloat16* __restrict__ a, const float* __restrict__ bias,
                 const float* __restrict__ coef, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][32];
	mlp_bwd(da, bpart, dy, h, a, bias, coef, HW, C, chunk, sums);
}

// mlp_bwd_params_f32 adds to the parameter gradients, in a fixed order:
// dgamma[c] += Σ_n share[n][0][c] and dbeta[c] += Σ_n share[n][1][c] (the
// shares of grn_bwd_coef_f32, as grn_bwd_params_f32 adds them) and
// dbias[c] += Σ_p bpart[p][c] over the parts p < parts (N·chunks) of
// mlp_bwd_f32.
//
// Launch: block 256, grid ceil(C/256). Traffic 4·C·(2N + parts + 6) B.
extern "C" __global__ void __launch_bounds__(MLP_THREADS)
    mlp_bwd_params_f32(float* __restrict__ dgamma, float* __restrict__ dbeta, float* __restrict__ dbias,
                       const float* __restrict__ share, const float* __restrict__ bpart, int N, int parts, int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		dgamma[c] += strided_sum(share + c, N, 2 * (size_t)C);
		dbeta[c] += strided_sum(share + C + c, N, 2 * (size_t)C);
		dbias[c] += strided_sum(bpart + c, parts, C);
	}
}

// mlp_fwd_v8_bf16 and mlp_bwd_v8_bf16 are mlp_fwd_bf16 and mlp_bwd_bf16
// with 8 consecutive channels a thread, moved with one 16-byte load or
// store a row and tensor (ld8, st8). The host launches them when C is a
// multiple of 8 and every activation starts 16-byte aligned (then every
// row of every sample is), the scalar kernels otherwise. Each channel's
// values are formed and added in the scalar kernels' order (rows
// k·chunk + j, + 8, ...; then the 8 row sums in row order, rows_sum8), so
// h, da and the chunk sums are bit-identical to the scalar kernels'.
// bias is read with scalar loads (it may be null, as there).
//
// Launch: block (STATS_VX, 8), grid (ceil(C/(8·STATS_VX)), ceil(HW/chunk),
// N). Thread (i, j) of block (cx, k, n) takes channels
// [8·(STATS_VX·cx + i), + 8); a warp moves 4 rows of 128 contiguous bytes
// a tensor. Traffic as the scalar kernels.
extern "C" __global__ void __launch_bounds__(STATS_VX * MLP_ROWS)
    mlp_fwd_v8_bf16(__nv_bfloat16* __restrict__ h, float* __restrict__ part, const __nv_bfloat16* __restrict__ a,
                    const float* __restrict__ bias, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][8][STATS_VX];
	const stats8 t = stats8_at(HW, C, chunk);
	float s[8] = {};
	if (t.c < C) {
		float b[8];
#pragma unroll
		for (int q = 0; q < 8; q++) {
			b[q] = bias ? bias[t.c + q] : 0.f;
		}
		for (int r = t.r0; r < t.r1; r += MLP_ROWS) {
			const size_t at = t.base + (size_t)r * C;
			float v[8];
			ld8(a, at, v);
#pragma unroll
			for (int q = 0; q < 8; q++) {
				v[q] = __bfloat162float(__float2bfloat16_rn(gelu_act(v[q] + b[q], 0)));  // h as stored
				s[q] += v[q] * v[q];
			}
			st8(h, at, v);
		}
	}
	rows_sum8(part + t.part * C + t.c, s, sums, t.c < C);
}

extern "C" __global__ void __launch_bounds__(STATS_VX * MLP_ROWS)
    mlp_bwd_v8_bf16(__nv_bfloat16* __restrict__ da, float* __restrict__ bpart, const __nv_bfloat16* __restrict__ dy,
                    const __nv_bfloat16* __restrict__ h, const __nv_bfloat16* __restrict__ a,
                    const float* __restrict__ bias, const float* __restrict__ coef, int HW, int C, int chunk) {
	__shared__ float sums[MLP_ROWS][8][STATS_VX];
	const stats8 t = stats8_at(HW, C, chunk);
	float s[8] = {};
	if (t.c < C) {
		float b[8], ca[8], ck[8];
		const float* cf = coef + (size_t)blockIdx.z * 2 * C + t.c;
#pragma unroll
		for (int q = 0; q < 8; q++) {
			b[q] = bias ? bias[t.c + q] : 0.f;
			ca[q] = cf[q];
			ck[q] = cf[C + q];
		}
		for (int r = t.r0; r < t.r1; r += MLP_ROWS) {
			const size_t at = t.base + (size_t)r * C;
			float vd[8], vh[8], va[8], d[8];
			ld8(dy, at, vd);
			ld8(h, at, vh);
			ld8(a, at, va);
#pragma unroll
			for (int q = 0; q < 8; q++) {
				d[q] = mlp_da(vd[q], vh[q], va[q], b[q], ca[q], ck[q]);
				s[q] += d[q];
			}
			st8(da, at, d);
		}
	}
	rows_sum8(bpart + t.part * C + t.c, s, sums, t.c < C);
}
