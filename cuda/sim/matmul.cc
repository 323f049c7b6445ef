// The cuBLASLt matrix product (cublasLtMatmul) the simulator emulates for
// Driver.Matmul: bfloat16 or float32 matrices, float32 accumulation, the
// BIAS and BGRADB epilogues. See matmul.go for the contract.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cudasim_abi.h"
#include "runtime_internal.h"

using namespace cudasim::detail;

namespace {

enum { kF32 = 0, kBF16 = 1 };

float bf16_to_f32(uint16_t h) {
	uint32_t u = uint32_t(h) << 16;
	float f;
	std::memcpy(&f, &u, 4);
	return f;
}

// f32_to_bf16 rounds to nearest even (__float2bfloat16_rn); NaN stays a
// quiet NaN of the same sign.
uint16_t f32_to_bf16(float f) {
	uint32_t u;
	std::memcpy(&u, &f, 4);
	if (std::isnan(f)) return uint16_t((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1u);
	return uint16_t(u >> 16);
}

// tf32 rounds f to TF32's 10-bit mantissa, to nearest with ties away from
// zero (cvt.rna.tf32.f32); Inf and NaN pass unchanged.
float tf32(float f) {
	if (!std::isfinite(f)) return f;
	uint32_t u;
	std::memcpy(&u, &f, 4);
	u = (u + 0x1000u) & ~0x1fffu;
	std::memcpy(&f, &u, 4);
	return f;
}

float load(uintptr_t base, std::size_t i, int type) {
	if (type == kBF16) return bf16_to_f32(reinterpret_cast<const uint16_t*>(base)[i]);
	return reinterpret_cast<const float*>(base)[i];
}

void store(uintptr_t base, std::size_t i, int type, float v) {
	if (type == kBF16)
		reinterpret_cast<uint16_t*>(base)[i] = f32_to_bf16(v);
	else
		reinterpret_cast<float*>(base)[i] = v;
}

std::size_t extent(int rows, int cols, int ld, int type) {
	return (std::size_t(cols - 1) * ld + rows) * (type == kBF16 ? 2 : 4);
}

}  // namespace

extern "C" {

char* cudasim_matmul(uint64_t ctx, const cudasim_matmul_args* g) {
	const int m = g->m, n = g->n, k = g->k;
	if (m < 0 || n < 0 || k < 0) return dup(strf("negative size m=%d n=%d k=%d", m, n, k));
	const int arows = g->transa ? k : m, acols = g->transa ? m : k;
	const int brows = g->transb ? n : k, bcols = g->transb ? k : n;
	if (g->lda < std::max(1, arows)) return dup(strf("lda=%d is less than the %d rows of A", g->lda, arows));
	if (g->ldb < std::max(1, brows)) return dup(strf("ldb=%d is less than the %d rows of B", g->ldb, brows));
	if (g->ldc < std::max(1, m)) return dup(strf("ldc=%d is less than the %d rows of C", g->ldc, m));
	if (g->ldd < std::max(1, m)) return dup(strf("ldd=%d is less than the %d rows of D", g->ldd, m));
	if (g->tf32 && g->ab != kF32) return dup("TF32 compute needs float32 A and B");
	if (m == 0 || n == 0) return nullptr;
	const bool read_c = g->beta != 0.0f;
	if (read_c && g->c == g->d && g->ldc != g->ldd) return dup("in-place C and D need ldc == ldd");
	{
		std::lock_guard<std::mutex> lk(mem_mu);
		const int bsize = g->bias_type == kBF16 ? 2 : 4;
		std::string s;
		if (k > 0) s = check_range(ctx, g->a, extent(arows, acols, g->lda, g->ab), "A");
		if (s.empty() && k > 0) s = check_range(ctx, g->b, extent(brows, bcols, g->ldb, g->ab), "B");
		if (s.empty() && read_c) s = check_range(ctx, g->c, extent(m, n, g->ldc, g->cd), "C");
		if (s.empty()) s = check_range(ctx, g->d, extent(m, n, g->ldd, g->cd), "D");
		if (s.empty() && g->epilogue == 1) s = check_range(ctx, g->bias, std::size_t(m) * bsize, "bias");
		if (s.empty() && g->epilogue == 2) s = check_range(ctx, g->bias, std::size_t(n) * bsize, "bias");
		const uintptr_t align = g->ab == kBF16 ? 2 : 4, calign = g->cd == kBF16 ? 2 : 4;
		if (s.empty() && (g->a % align || g->b % align || g->c % calign || g->d % calign || g->bias % bsize))
			s = "matrices and bias must be aligned to their element size";
		if (!s.empty()) return dup(s);
	}
	auto in = [&](uintptr_t base, std::size_t i) {
		float v = load(base, i, g->ab);
		return g->tf32 ? tf32(v) : v;
	};
	// op(A) packed column by column (op(A)(i,p) at Ap[p*m+i]). Products of
	// bfloat16 or TF32 values are exact in double, so the double sum rounded
	// to float is the float32 accumulation without an order's rounding.
	std::vector<float> Ap(std::size_t(m) * k);
	for (int p = 0; p < k; p++)
		for (int i = 0; i < m; i++)
			Ap[std::size_t(p) * m + i] =
			    in(g->a, g->transa ? std::size_t(i) * g->lda + p : std::size_t(p) * g->lda + i);
	std::vector<double> acc(m);
	std::vector<float> dcol(m);
	for (int j = 0; j < n; j++) {
		std::fill(acc.begin(), acc.end(), 0.0);
		double bsum = 0;
		for (int p = 0; p < k; p++) {
			double bv = in(g->b, g->transb ? std::size_t(p) * g->ldb + j : std::size_t(j) * g->ldb + p);
			bsum += bv;
			const float* ap = &Ap[std::size_t(p) * m];
			for (int i = 0; i < m; i++) acc[i] += double(ap[i]) * bv;
		}
		// The epilogue runs in float32: alpha·acc + beta·C + bias, rounded
		// to D's type once.
		for (int i = 0; i < m; i++) {
			float v = g->alpha * float(acc[i]);
			if (read_c) v += g->beta * load(g->c, std::size_t(j) * g->ldc + i, g->cd);
			if (g->epilogue == 1) v += load(g->bias, i, g->bias_type);
			dcol[i] = v;
		}
		for (int i = 0; i < m; i++) store(g->d, std::size_t(j) * g->ldd + i, g->cd, dcol[i]);
		if (g->epilogue == 2) store(g->bias, j, g->bias_type, float(bsum));
	}
	return nullptr;
}

}  // extern "C"
