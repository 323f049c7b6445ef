// memory.cc: the simulator's device memory (exact-size allocations with
// guard bytes, owned by contexts), memory copies and the cuBLAS Sgemm
// stand-in, with their part of the C ABI (cudasim_abi.h). Design:
// docs/CUDASIM.md sections 3.10 and 3.11.
#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cudasim_abi.h"
#include "runtime_internal.h"

namespace cudasim {
namespace detail {
namespace {

std::atomic<uint64_t> next_ctx{1};

void fill_guards(Alloc& a) {
	for (std::size_t i = 0; i < kGuard; i++) {
		a.raw[i] = guard_byte(i);
		a.raw[kGuard + a.size + i] = guard_byte(i + kGuard);
	}
}

}  // namespace

std::mutex mem_mu;

// check_range validates [p, p+n) as device memory of ctx, or describes why
// it is not. Caller holds mem_mu.
std::string check_range(uint64_t ctx, uintptr_t p, std::size_t n, const char* what) {
	if (p == 0) return strf("%s is the null pointer", what);
	Alloc* a = find_alloc(p);
	if (!a)
		return strf("%s 0x%" PRIxPTR " is not device memory from Malloc (a host pointer, a freed buffer or a stray "
		            "address)",
		            what, p);
	if (a->ctx != ctx) return strf("%s 0x%" PRIxPTR " belongs to another simulator context", what, p);
	if (n > a->base + a->size - p)
		return strf("%s [0x%" PRIxPTR ", +%zu) runs %zu bytes past the end of its %zu-byte allocation at 0x%" PRIxPTR,
		            what, p, n, n - (a->base + a->size - p), a->size, a->base);
	return "";
}

std::map<uintptr_t, Alloc>& allocs() {
	static std::map<uintptr_t, Alloc> m;
	return m;
}

std::string check_guards(Alloc& a) {
	std::string msg;
	std::size_t before = 0, first_before = 0, after = 0, first_after = 0;
	for (std::size_t i = 0; i < kGuard; i++) {
		if (a.raw[i] != guard_byte(i)) {
			if (!before) first_before = kGuard - i;
			before++;
		}
		if (a.raw[kGuard + a.size + i] != guard_byte(i + kGuard)) {
			if (!after) first_after = i;
			after++;
		}
	}
	if (after)
		msg += strf("out-of-bounds write: %zu of the %zu guard bytes after the end of the %zu-byte allocation at "
		            "0x%" PRIxPTR " were overwritten (the first at byte %zu past the end)",
		            after, kGuard, a.size, a.base, first_after);
	if (before)
		msg += strf("%sout-of-bounds write: %zu of the %zu guard bytes before the %zu-byte allocation at "
		            "0x%" PRIxPTR " were overwritten (the farthest %zu bytes before it)",
		            msg.empty() ? "" : "; ", before, kGuard, a.size, a.base, first_before);
	if (!msg.empty()) fill_guards(a);
	return msg;
}

Alloc* find_alloc(uintptr_t p) {
	auto& m = allocs();
	auto it = m.upper_bound(p);
	if (it == m.begin()) return nullptr;
	--it;
	if (p > it->second.base + it->second.size) return nullptr;
	return &it->second;
}

}  // namespace detail
}  // namespace cudasim

// ---------------------------------------------------------------------------
// C ABI.

using namespace cudasim;
using namespace cudasim::detail;

extern "C" {

uint64_t cudasim_ctx_new(void) { return next_ctx.fetch_add(1); }

char* cudasim_ctx_close(uint64_t ctx) {
	std::string msg;
	std::lock_guard<std::mutex> lk(mem_mu);
	auto& m = allocs();
	for (auto it = m.begin(); it != m.end();) {
		if (it->second.ctx != ctx) {
			++it;
			continue;
		}
		std::string s = check_guards(it->second);
		if (!s.empty()) msg += (msg.empty() ? "" : "; ") + s;
		std::free(it->second.raw);
		it = m.erase(it);
	}
	return msg.empty() ? nullptr : dup(msg);
}

char* cudasim_malloc(uint64_t ctx, size_t bytes, uintptr_t* out) {
	*out = 0;
	if (bytes == 0) return dup("cannot allocate 0 bytes (cuMemAlloc rejects it with CUDA_ERROR_INVALID_VALUE)");
	void* raw = nullptr;
	if (bytes > (size_t(1) << 40) || posix_memalign(&raw, kAlign, bytes + 2 * kGuard) != 0)
		return dup(strf("out of memory allocating %zu bytes", bytes));
	Alloc a{reinterpret_cast<uintptr_t>(raw) + kGuard, bytes, ctx, static_cast<unsigned char*>(raw)};
	fill_guards(a);
	// Fresh device memory is undefined: fill it with 0xff (a float NaN) so that
	// code reading memory it never wrote sees NaN, not a lucky zero.
	std::memset(reinterpret_cast<void*>(a.base), 0xff, bytes);
	std::lock_guard<std::mutex> lk(mem_mu);
	allocs()[a.base] = a;
	*out = a.base;
	return nullptr;
}

char* cudasim_free(uint64_t ctx, uintptr_t p) {
	std::lock_guard<std::mutex> lk(mem_mu);
	auto& m = allocs();
	auto it = m.find(p);
	if (it == m.end() || it->second.ctx != ctx) {
		Alloc* a = find_alloc(p);
		if (a && a->ctx == ctx)
			return dup(strf("0x%" PRIxPTR " points into the allocation at 0x%" PRIxPTR ", not to its start", p, a->base));
		return dup(strf("0x%" PRIxPTR " was not returned by Malloc of this context (or was freed already)", p));
	}
	std::string s = check_guards(it->second);
	std::free(it->second.raw);
	m.erase(it);
	return s.empty() ? nullptr : dup(s + " (found at Free)");
}

char* cudasim_htod(uint64_t ctx, uintptr_t dst, const void* src, size_t bytes) {
	std::lock_guard<std::mutex> lk(mem_mu);
	std::string s = check_range(ctx, dst, bytes, "destination");
	if (!s.empty()) return dup(s);
	std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
	return nullptr;
}

char* cudasim_dtoh(uint64_t ctx, void* dst, uintptr_t src, size_t bytes) {
	std::lock_guard<std::mutex> lk(mem_mu);
	std::string s = check_range(ctx, src, bytes, "source");
	if (!s.empty()) return dup(s);
	std::memcpy(dst, reinterpret_cast<const void*>(src), bytes);
	return nullptr;
}

char* cudasim_dtod(uint64_t ctx, uintptr_t dst, uintptr_t src, size_t bytes) {
	std::lock_guard<std::mutex> lk(mem_mu);
	std::string s = check_range(ctx, dst, bytes, "destination");
	if (s.empty()) s = check_range(ctx, src, bytes, "source");
	if (!s.empty()) return dup(s);
	std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
	return nullptr;
}

char* cudasim_memset(uint64_t ctx, uintptr_t dst, int value, size_t bytes) {
	std::lock_guard<std::mutex> lk(mem_mu);
	std::string s = check_range(ctx, dst, bytes, "destination");
	if (!s.empty()) return dup(s);
	std::memset(reinterpret_cast<void*>(dst), value, bytes);
	return nullptr;
}

char* cudasim_sgemm(uint64_t ctx, int transa, int transb, int m, int n, int k, float alpha, uintptr_t a, int lda,
                    uintptr_t b, int ldb, float beta, uintptr_t c, int ldc) {
	if (m < 0 || n < 0 || k < 0) return dup(strf("negative size m=%d n=%d k=%d", m, n, k));
	int arows = transa ? k : m, acols = transa ? m : k;
	int brows = transb ? n : k, bcols = transb ? k : n;
	if (lda < std::max(1, arows)) return dup(strf("lda=%d is less than the %d rows of A", lda, arows));
	if (ldb < std::max(1, brows)) return dup(strf("ldb=%d is less than the %d rows of B", ldb, brows));
	if (ldc < std::max(1, m)) return dup(strf("ldc=%d is less than the %d rows of C", ldc, m));
	if (m == 0 || n == 0) return nullptr;
	bool read_ab = k > 0 && alpha != 0.0f;
	{
		std::lock_guard<std::mutex> lk(mem_mu);
		auto extent = [](int rows, int cols, int ld) { return (std::size_t(cols - 1) * ld + rows) * sizeof(float); };
		std::string s;
		if (read_ab) s = check_range(ctx, a, extent(arows, acols, lda), "A");
		if (s.empty() && read_ab) s = check_range(ctx, b, extent(brows, bcols, ldb), "B");
		if (s.empty()) s = check_range(ctx, c, extent(m, n, ldc), "C");
		if (s.empty() && (a % 4 || b % 4 || c % 4)) s = "matrices must be 4-byte aligned";
		if (!s.empty()) return dup(s);
	}
	const float* A = reinterpret_cast<const float*>(a);
	const float* B = reinterpret_cast<const float*>(b);
	float* C = reinterpret_cast<float*>(c);
	// op(A) packed column by column (op(A)(i,p) at Ap[p*m+i]), accumulated in
	// double; cuBLAS reads neither C when beta == 0 nor A, B when alpha == 0.
	std::vector<float> Ap(read_ab ? std::size_t(m) * k : 0);
	if (read_ab)
		for (int p = 0; p < k; p++)
			for (int i = 0; i < m; i++)
				Ap[std::size_t(p) * m + i] = transa ? A[std::size_t(i) * lda + p] : A[std::size_t(p) * lda + i];
	std::vector<double> acc(m);
	for (int j = 0; j < n; j++) {
		std::fill(acc.begin(), acc.end(), 0.0);
		if (read_ab)
			for (int p = 0; p < k; p++) {
				double bv = transb ? B[std::size_t(p) * ldb + j] : B[std::size_t(j) * ldb + p];
				const float* ap = &Ap[std::size_t(p) * m];
				for (int i = 0; i < m; i++) acc[i] += double(ap[i]) * bv;
			}
		float* cj = C + std::size_t(j) * ldc;
		for (int i = 0; i < m; i++) {
			double v = read_ab ? double(alpha) * acc[i] : 0.0;
			if (beta != 0.0f) v += double(beta) * double(cj[i]);
			cj[i] = float(v);
		}
	}
	return nullptr;
}

}  // extern "C"
