// fcmae.cu: FCMAE pre-training's ops (kernels.MaskOps): patch masking with
// an optional fill token, its backward, and the masked reconstruction loss
// on per-patch normalised pixels (Woo et al. 2023; official
// facebookresearch/ConvNeXt-V2 models/fcmae.py). Float32 tensors, NHWC.
//
// Shapes: activations x [N, GH·S, GW·S, C] under a patch mask [N, GH, GW]
// (1 = masked), S the patch side at the activation's resolution; the loss
// reads pred [N, GH, GW, P·P·C] and images img [N, GH·P, GW·P, C], target
// channel k = (i·P + j)·C + c for pixel (i, j), channel c of a patch.
// Element counts are int (the launcher rejects 2^31 or more); reductions are
// in double in a fixed order, rounded to float once, as the CPU reference.
#include "reduce.cuh"

// fm_masked returns whether pixel p (row-major over N, GH·S, GW·S) lies in a
// masked patch.
static __device__ bool fm_masked(const float* mask, unsigned p, int GH, int GW, int S) {
	const unsigned w = (unsigned)GW * S, hw = (unsigned)GH * S * w;
	const unsigned n = p / hw, r = p % hw;
	const unsigned gi = r / w / S, gj = r % w / S;
	return mask[(n * GH + gi) * GW + gj] != 0.0f;
}

// mask_fill_f32: y = fill[c] (0 when fill is null) at masked pixels, x
// elsewhere, over n = pixels·C elements. y may alias x.
// Geometry: 1-D grid-stride. Traffic: 8 bytes/element.
extern "C" __global__ void mask_fill_f32(float* y, const float* x, const float* mask, const float* fill,
                                         int n, int C, int GH, int GW, int S) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const unsigned c = i % (unsigned)C;
		if (!fm_masked(mask, i / (unsigned)C, GH, GW, S)) {
			y[i] = x[i];
		} else {
			y[i] = fill ? fill[c] : 0.0f;
		}
	}
}

// mask_fill_bwd_f32: dx = 0 at masked pixels, dy elsewhere, over n =
// pixels·C elements. dx may alias dy.
// Geometry: 1-D grid-stride. Traffic: 8 bytes/element.
extern "C" __global__ void mask_fill_bwd_f32(float* dx, const float* dy, const float* mask,
                                             int n, int C, int GH, int GW, int S) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		dx[i] = fm_masked(mask, i / (unsigned)C, GH, GW, S) ? 0.0f : dy[i];
	}
}

// mask_fill_dfill_f32: dfill[c] += Σ over masked pixels of dy[p, c], one
// block per channel c (gridDim.x = C) striding over the pixels, summed in
// double. Traffic: 4 bytes per pixel and channel (strided by C).
extern "C" __global__ void mask_fill_dfill_f32(float* dfill, const float* dy, const float* mask,
                                               int pixels, int C, int GH, int GW, int S) {
	const unsigned c = blockIdx.x;
	double s = 0.0;
	for (unsigned p = threadIdx.x; p < (unsigned)pixels; p += blockDim.x) {
		if (fm_masked(mask, p, GH, GW, S)) s += (double)dy[(size_t)p * C + c];
	}
	s = block_sum_f64(s);
	if (threadIdx.x == 0) dfill[c] += (float)s;
}

// patch_loss_f32: one block per patch q < N·GH·GW (gridDim.x) gathers the
// patch's PL = P·P·C image values into target[q], normalises them by their
// mean and unbiased variance when norm_pix (two passes in double), and
// writes loss[q] = mean (pred − target)². Traffic: 16 bytes per value.
extern "C" __global__ void patch_loss_f32(float* loss, float* target, const float* pred, const float* img,
                                          int GH, int GW, int P, int C, int norm_pix, double eps) {
	const unsigned q = blockIdx.x;
	const unsigned n = q / (GH * GW), gi = q / GW % GH, gj = q % GW;
	const unsigned PL = (unsigned)P * P * C, rowLen = (unsigned)P * C;
	const size_t width = (size_t)GW * P;
	float* t = target + (size_t)q * PL;
	const float* pr = pred + (size_t)q * PL;
	double sum = 0.0;
	for (unsigned k = threadIdx.x; k < PL; k += blockDim.x) {
		const unsigned i = k / rowLen, r = k % rowLen;
		const float v = img[(((size_t)n * GH * P + gi * P + i) * width + (size_t)gj * P) * C + r];
		t[k] = v;
		sum += v;
	}
	if (norm_pix) {
		const double mean = block_sum_f64(sum) / PL;
		double ss = 0.0;
		for (unsigned k = threadIdx.x; k < PL; k += blockDim.x) {
			const double d = (double)t[k] - mean;
			ss += d * d;
		}
		const double rstd = 1.0 / sqrt(block_sum_f64(ss) / (PL - 1) + eps);
		for (unsigned k = threadIdx.x; k < PL; k += blockDim.x) t[k] = (float)(((double)t[k] - mean) * rstd);
	}
	double se = 0.0;
	for (unsigned k = threadIdx.x; k < PL; k += blockDim.x) {
		const double d = (double)pr[k] - (double)t[k];
		se += d * d;
	}
	se = block_sum_f64(se);
	if (threadIdx.x == 0) loss[q] = (float)(se / PL);
}

// patch_loss_bwd_f32: dpred[q·PL + k] = scale·mask[q]·2·(pred − target)/PL
// over n = patches·PL elements, in double rounded once.
// Geometry: 1-D grid-stride. Traffic: 12 bytes/element.
extern "C" __global__ void patch_loss_bwd_f32(float* dpred, const float* pred, const float* target, const float* mask,
                                              double scale, int n, int PL) {
	const unsigned stride = gridDim.x * blockDim.x;
	for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
		const double g = scale * (double)mask[i / (unsigned)PL] * 2.0 / PL;
		dpred[i] = (float)(g * ((double)pred[i] - (double)target[i]));
	}
}
