// batchnorm.cu: 2-D batch normalization (Ioffe & Szegedy 2015; PyTorch's
// nn.BatchNorm2d) over NHWC activations seen as x [rows, C], rows = N·H·W,
// forward in training and evaluation and backward (kernels.BatchNormOps).
//
// Training statistics are two-pass: chunked column sums of x (bn_stats_f32),
// the per-channel mean (bn_mean_f32), chunked sums of (x − mean)² and the
// variance, rstd and running-estimate update (bn_var_f32). Threads run along
// C, the contiguous axis, so each warp reads 32 consecutive channels of a
// row. The chunk sums are added in chunk order by one thread per channel:
// every sum is formed in a fixed order, with no atomics, so the results do
// not depend on scheduling.
#include "compat.cuh"

#define BN_ROWS 8      // blockDim.y of the column-sum kernels
#define BN_THREADS 256 // threads of the per-channel and elementwise kernels

// bn_stats_f32 writes the chunk sums part[k][c] = Σ_{r in chunk k} v with
// v = x[r,c] − mean[c] squared when centered, else x[r,c], for chunk k
// covering rows [k·chunk, min((k+1)·chunk, rows)). mean is read only when
// centered.
//
// Launch: block (32, 8), grid (ceil(C/32), ceil(rows/chunk)). Thread (i, j)
// of block (cx, k) takes channel 32·cx + i and rows k·chunk + j, + 8, ...;
// the 8 row sums are added in order through shared memory. Traffic: 4 B
// read per element, 4·C B written per chunk.
extern "C" __global__ void __launch_bounds__(32 * BN_ROWS)
    bn_stats_f32(float* part, const float* x, const float* mean, int rows, int C, int chunk, int centered) {
	__shared__ float sums[BN_ROWS][32];
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int r1 = min((k + 1) * chunk, rows);
	float s = 0.0f;
	if (c < C) {
		const float m = centered ? mean[c] : 0.0f;
		for (int r = k * chunk + threadIdx.y; r < r1; r += BN_ROWS) {
			const float v = x[(size_t)r * C + c] - m;
			s += centered ? v * v : v;
		}
	}
	sums[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		float t = 0.0f;
		for (int j = 0; j < BN_ROWS; j++) {
			t += sums[j][threadIdx.x];
		}
		part[(size_t)k * C + c] = t;
	}
}

// bn_mean_f32 writes mean[c] = Σ_k part[k][c] / rows from bn_stats_f32's
// uncentered chunk sums.
//
// Launch: block 256, grid ceil(C/256), one channel per thread.
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_mean_f32(float* mean, const float* part, int chunks, int rows, int C) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		float s = 0.0f;
		for (int k = 0; k < chunks; k++) {
			s += part[(size_t)k * C + c];
		}
		mean[c] = s / (float)rows;
	}
}

// bn_var_f32 turns bn_stats_f32's centered chunk sums into
// rstd[c] = 1/sqrt(var + eps) with the biased var = Σ/rows, and updates the
// running estimates with PyTorch's momentum: run_mean = (1 − m)·run_mean +
// m·mean, run_var = (1 − m)·run_var + m·Σ/(rows − 1) (unbiased; rows > 1).
//
// Launch: block 256, grid ceil(C/256), one channel per thread.
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_var_f32(float* rstd, float* run_mean, float* run_var, const float* mean, const float* part, int chunks,
               int rows, int C, float eps, float momentum) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		float s = 0.0f;
		for (int k = 0; k < chunks; k++) {
			s += part[(size_t)k * C + c];
		}
		rstd[c] = 1.0f / sqrtf(s / (float)rows + eps);
		run_mean[c] = (1.0f - momentum) * run_mean[c] + momentum * mean[c];
		run_var[c] = (1.0f - momentum) * run_var[c] + momentum * (s / (float)(rows - 1));
	}
}

// bn_eval_stats_f32 writes the evaluation statistics mean[c] = run_mean[c]
// and rstd[c] = 1/sqrt(run_var[c] + eps).
//
// Launch: block 256, grid ceil(C/256).
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_eval_stats_f32(float* mean, float* rstd, const float* run_mean, const float* run_var, int C, float eps) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		mean[c] = run_mean[c];
		rstd[c] = 1.0f / sqrtf(run_var[c] + eps);
	}
}

// bn_apply_f32 writes y[r,c] = (x[r,c] − mean[c])·(rstd[c]·w[c]) + b[c] for
// the n = rows·C elements of x; y may alias x.
//
// Launch: block 256, grid ceil(n/256), one element per thread. Traffic 8 B
// per element (the [C] vectors stay in L1/L2).
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_apply_f32(float* y, const float* x, const float* mean, const float* rstd, const float* w, const float* b,
                 int n, int C) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		const int c = (int)(i % C);
		y[i] = (x[i] - mean[c]) * (rstd[c] * w[c]) + b[c];
	}
}

// bn_bwd_sums_f32 writes the chunk sums part[k][0][c] = Σ dy[r,c] and
// part[k][1][c] = Σ dy[r,c]·(x[r,c] − mean[c]) over chunk k's rows.
//
// Launch and traffic as bn_stats_f32, reading dy and x.
extern "C" __global__ void __launch_bounds__(32 * BN_ROWS)
    bn_bwd_sums_f32(float* part, const float* dy, const float* x, const float* mean, int rows, int C, int chunk) {
	__shared__ float sums[2][BN_ROWS][32];
	const int c = blockIdx.x * 32 + threadIdx.x;
	const int k = blockIdx.y;
	const int r1 = min((k + 1) * chunk, rows);
	float s = 0.0f, sx = 0.0f;
	if (c < C) {
		const float m = mean[c];
		for (int r = k * chunk + threadIdx.y; r < r1; r += BN_ROWS) {
			const size_t at = (size_t)r * C + c;
			const float g = dy[at];
			s += g;
			sx += g * (x[at] - m);
		}
	}
	sums[0][threadIdx.y][threadIdx.x] = s;
	sums[1][threadIdx.y][threadIdx.x] = sx;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		float t = 0.0f, tx = 0.0f;
		for (int j = 0; j < BN_ROWS; j++) {
			t += sums[0][j][threadIdx.x];
			tx += sums[1][j][threadIdx.x];
		}
		part[(size_t)k * 2 * C + c] = t;
		part[(size_t)k * 2 * C + C + c] = tx;
	}
}

// bn_bwd_coef_f32 adds bn_bwd_sums_f32's chunk sums in chunk order into
// S = Σdy and T = Σdy·x̂ = rstd·Σdy·(x − mean), accumulates db[c] += S and
// dw[c] += T, and writes the coefficients of dx: coef[0][c] = w·rstd, and
// in training coef[1][c] = S/rows, coef[2][c] = T·rstd/rows (0 in
// evaluation).
//
// Launch: block 256, grid ceil(C/256), one channel per thread.
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_bwd_coef_f32(float* coef, float* dw, float* db, const float* part, const float* rstd, const float* w,
                    int chunks, int rows, int C, int training) {
	const int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c < C) {
		float s = 0.0f, sx = 0.0f;
		for (int k = 0; k < chunks; k++) {
			s += part[(size_t)k * 2 * C + c];
			sx += part[(size_t)k * 2 * C + C + c];
		}
		const float r = rstd[c];
		const float t = sx * r;
		db[c] += s;
		dw[c] += t;
		coef[c] = w[c] * r;
		coef[C + c] = training ? s / (float)rows : 0.0f;
		coef[2 * C + c] = training ? t * r / (float)rows : 0.0f;
	}
}

// bn_bwd_apply_f32 writes dx[r,c] = coef[0][c]·(dy − coef[1][c] −
// (x − mean[c])·coef[2][c]) for the n = rows·C elements; dx may alias dy.
//
// Launch: block 256, grid ceil(n/256). Traffic 12 B per element.
extern "C" __global__ void __launch_bounds__(BN_THREADS)
    bn_bwd_apply_f32(float* dx, const float* dy, const float* x, const float* mean, const float* coef, int n, int C) {
	const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		const int c = (int)(i % C);
		dx[i] = coef[c] * (dy[i] - coef[C + c] - (x[i] - mean[c]) * coef[2 * C + c]);
	}
}
