// cuda_sim.h: CUDA device code on CPU threads. kernels/src/compat.cuh
// includes this header when CUDASIM is defined (the simulator's cgo build) so
// that the project's .cu kernels compile unchanged with g++ -std=c++20.
//
// It provides the CUDA subset of docs/CUDASIM.md section 7:
// qualifiers, built-in variables, vector types, an allowlist of math
// functions and intrinsics, atomics, fences, __syncthreads and its
// count/and/or variants, warp shuffles and votes, __syncwarp, static and
// dynamic shared memory, and 16-bit float storage types. Anything else fails
// to compile, on purpose: <math.h> is not included, so a math function that is
// not declared here is an error.
//
// Semantics follow the CUDA C++ Programming Guide and the PTX ISA; doc.go in
// this directory says what is and is not simulated.
#pragma once

#include <atomic>
#include <bit>
#include <cassert>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cuda_sim_runtime.h"

// g++ contracts a*b+c into an FMA whenever the target has one, and cgo does
// not accept -ffp-contract=off in #cgo directives. The default x86-64 target
// has no FMA, so results do not depend on the machine; with -march=native or
// similar, add -ffp-contract=off to CGO_CXXFLAGS.
#if defined(__FMA__) && !defined(CUDASIM_ALLOW_FMA)
#warning "cuda_sim.h: the target has FMA; add -ffp-contract=off to CGO_CXXFLAGS (or define CUDASIM_ALLOW_FMA)"
#endif

#if defined(_MATH_H) || defined(_GLIBCXX_CMATH)
#error "cuda_sim.h must not see <math.h>/<cmath>: it declares the allowed math functions itself"
#endif

// ---------------------------------------------------------------------------
// Math allowlist. Prototypes match glibc's, so a later <math.h> would agree.

extern "C" {
float expf(float) noexcept;
float exp2f(float) noexcept;
float expm1f(float) noexcept;
float logf(float) noexcept;
float log2f(float) noexcept;
float log10f(float) noexcept;
float log1pf(float) noexcept;
float powf(float, float) noexcept;
float sqrtf(float) noexcept;
float cbrtf(float) noexcept;
float erff(float) noexcept;
float erfcf(float) noexcept;
float tanhf(float) noexcept;
float fabsf(float) noexcept;
float fmaxf(float, float) noexcept;
float fminf(float, float) noexcept;
float fmaf(float, float, float) noexcept;
float fmodf(float, float) noexcept;
float floorf(float) noexcept;
float ceilf(float) noexcept;
float truncf(float) noexcept;
float roundf(float) noexcept;
float rintf(float) noexcept;
float nearbyintf(float) noexcept;
float copysignf(float, float) noexcept;
double exp(double) noexcept;
double expm1(double) noexcept;
double log(double) noexcept;
double log1p(double) noexcept;
double pow(double, double) noexcept;
double sqrt(double) noexcept;
double erf(double) noexcept;
double tanh(double) noexcept;
double fabs(double) noexcept;
double fmax(double, double) noexcept;
double fmin(double, double) noexcept;
double fma(double, double, double) noexcept;
double floor(double) noexcept;
double ceil(double) noexcept;
double trunc(double) noexcept;
double round(double) noexcept;
double rint(double) noexcept;
double nearbyint(double) noexcept;
double copysign(double, double) noexcept;
}

// rsqrtf is a CUDA function; glibc 2.42 added the C23 rsqrt family to
// <math.h>. Use glibc's where it exists so the two never clash.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 42))
extern "C" float rsqrtf(float) noexcept;
extern "C" double rsqrt(double) noexcept;
#else
inline float rsqrtf(float x) noexcept { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) noexcept { return 1.0 / sqrt(x); }
#endif

inline bool isnan(float x) { return __builtin_isnan(x); }
inline bool isnan(double x) { return __builtin_isnan(x); }
inline bool isinf(float x) { return __builtin_isinf(x); }
inline bool isinf(double x) { return __builtin_isinf(x); }
inline bool isfinite(float x) { return __builtin_isfinite(x); }
inline bool isfinite(double x) { return __builtin_isfinite(x); }
inline bool signbit(float x) { return __builtin_signbit(x); }
inline bool signbit(double x) { return __builtin_signbit(x); }

// min and max, as CUDA's math_functions.hpp overloads them.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
inline unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
inline unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
inline unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Approximate intrinsics map to the accurate functions: results differ from a
// GPU in the last bits (CUDA Programming Guide, intrinsic accuracy table), so
// tests compare with tolerances.
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp2f(x * 3.32192809488736234787f); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : x > 0.0f ? x : 0.0f; }  // NaN -> 0

// Float-to-integer conversions saturate, and NaN converts to 0, as PTX cvt does.
namespace cudasim {
template <class I, class F>
inline I cvt_sat(F x) {
	if (x != x) return 0;
	if (x <= F(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
	if (x >= F(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
	return I(x);
}
}  // namespace cudasim
inline int __float2int_rn(float x) { return cudasim::cvt_sat<int>(rintf(x)); }
inline int __float2int_rz(float x) { return cudasim::cvt_sat<int>(truncf(x)); }
inline int __float2int_rd(float x) { return cudasim::cvt_sat<int>(floorf(x)); }
inline int __float2int_ru(float x) { return cudasim::cvt_sat<int>(ceilf(x)); }
inline unsigned int __float2uint_rn(float x) { return cudasim::cvt_sat<unsigned int>(rintf(x)); }
inline unsigned int __float2uint_rz(float x) { return cudasim::cvt_sat<unsigned int>(truncf(x)); }
inline long long __float2ll_rn(float x) { return cudasim::cvt_sat<long long>(rintf(x)); }
inline long long __float2ll_rz(float x) { return cudasim::cvt_sat<long long>(truncf(x)); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned int x) { return float(x); }
inline float __ll2float_rn(long long x) { return float(x); }

// Bit casts and integer intrinsics.
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned int __float_as_uint(float x) { return std::bit_cast<unsigned int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
	x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	return __builtin_bswap32(x);
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
	return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

// __ldg is a plain load: the read-only cache is not simulated.
template <class T>
inline T __ldg(const T* p) {
	return *p;
}

// ---------------------------------------------------------------------------
// 16-bit floating-point storage (cuda_fp16.h / cuda_bf16.h): storage plus
// conversions to and from float; no 16-bit arithmetic (section 7, rule 11).

struct __attribute__((aligned(2))) __half {
	unsigned short __x;
};
struct __attribute__((aligned(2))) __nv_bfloat16 {
	unsigned short __x;
};

inline float __half2float(__half h) {
	_Float16 f;
	std::memcpy(&f, &h.__x, 2);
	return float(f);
}
// __float2half rounds to nearest even (g++'s _Float16 conversion); NaN becomes
// the canonical 0x7fff as in cuda_fp16.hpp.
inline __half __float2half(float x) {
	__half h;
	if (x != x) {
		h.__x = 0x7fff;
		return h;
	}
	_Float16 f = (_Float16)x;
	std::memcpy(&h.__x, &f, 2);
	return h;
}
inline __half __float2half_rn(float x) { return __float2half(x); }
inline float __bfloat162float(__nv_bfloat16 h) { return std::bit_cast<float>((unsigned int)h.__x << 16); }
// __float2bfloat16 rounds to nearest even on the dropped 16 bits; NaN becomes
// 0x7fff (cuda_bf16.hpp's host path).
inline __nv_bfloat16 __float2bfloat16(float x) {
	__nv_bfloat16 h;
	if (x != x) {
		h.__x = 0x7fff;
		return h;
	}
	unsigned int u = std::bit_cast<unsigned int>(x);
	u += 0x7fffu + ((u >> 16) & 1u);
	h.__x = (unsigned short)(u >> 16);
	return h;
}
inline __nv_bfloat16 __float2bfloat16_rn(float x) { return __float2bfloat16(x); }
// __nv_bfloat162 is a pair of bf16 values, x in the low half (the lower
// address), as in cuda_bf16.h; 4-byte aligned.
struct __attribute__((aligned(4))) __nv_bfloat162 {
	__nv_bfloat16 x, y;
};
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return __nv_bfloat162{__float2bfloat16(a), __float2bfloat16(b)}; }
inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return __floats2bfloat162_rn(v.x, v.y); }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
inline __nv_bfloat162 __bfloat162bfloat162(__nv_bfloat16 a) { return __nv_bfloat162{a, a}; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return make_float2(__bfloat162float(v.x), __bfloat162float(v.y)); }
inline float __low2float(__nv_bfloat162 v) { return __bfloat162float(v.x); }
inline float __high2float(__nv_bfloat162 v) { return __bfloat162float(v.y); }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 v) { return v.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 v) { return v.y; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short x) { return __half{x}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { return __nv_bfloat16{x}; }

// ---------------------------------------------------------------------------
// Atomics: relaxed std::atomic_ref operations with CUDA's overload set and
// wrap-around semantics (CUDA Programming Guide, "Atomic Functions").

namespace cudasim {
template <class T>
inline std::atomic_ref<T> aref(T* p) {
	return std::atomic_ref<T>(*p);
}
template <class T, class F>
inline T atomic_update(T* p, F f) {
	std::atomic_ref<T> a(*p);
	T old = a.load(std::memory_order_relaxed);
	while (!a.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
	}
	return old;
}
constexpr auto relaxed = std::memory_order_relaxed;
}  // namespace cudasim

inline int atomicAdd(int* p, int v) { return cudasim::aref(p).fetch_add(v, cudasim::relaxed); }
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { return cudasim::aref(p).fetch_add(v, cudasim::relaxed); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
	return cudasim::aref(p).fetch_add(v, cudasim::relaxed);
}
inline float atomicAdd(float* p, float v) { return cudasim::aref(p).fetch_add(v, cudasim::relaxed); }
inline double atomicAdd(double* p, double v) { return cudasim::aref(p).fetch_add(v, cudasim::relaxed); }
inline int atomicSub(int* p, int v) { return cudasim::aref(p).fetch_sub(v, cudasim::relaxed); }
inline unsigned int atomicSub(unsigned int* p, unsigned int v) { return cudasim::aref(p).fetch_sub(v, cudasim::relaxed); }
inline int atomicExch(int* p, int v) { return cudasim::aref(p).exchange(v, cudasim::relaxed); }
inline unsigned int atomicExch(unsigned int* p, unsigned int v) { return cudasim::aref(p).exchange(v, cudasim::relaxed); }
inline unsigned long long atomicExch(unsigned long long* p, unsigned long long v) {
	return cudasim::aref(p).exchange(v, cudasim::relaxed);
}
inline float atomicExch(float* p, float v) { return cudasim::aref(p).exchange(v, cudasim::relaxed); }
inline int atomicMin(int* p, int v) { return cudasim::atomic_update(p, [v](int o) { return v < o ? v : o; }); }
inline unsigned int atomicMin(unsigned int* p, unsigned int v) {
	return cudasim::atomic_update(p, [v](unsigned int o) { return v < o ? v : o; });
}
inline long long atomicMin(long long* p, long long v) {
	return cudasim::atomic_update(p, [v](long long o) { return v < o ? v : o; });
}
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
	return cudasim::atomic_update(p, [v](unsigned long long o) { return v < o ? v : o; });
}
inline int atomicMax(int* p, int v) { return cudasim::atomic_update(p, [v](int o) { return v > o ? v : o; }); }
inline unsigned int atomicMax(unsigned int* p, unsigned int v) {
	return cudasim::atomic_update(p, [v](unsigned int o) { return v > o ? v : o; });
}
inline long long atomicMax(long long* p, long long v) {
	return cudasim::atomic_update(p, [v](long long o) { return v > o ? v : o; });
}
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
	return cudasim::atomic_update(p, [v](unsigned long long o) { return v > o ? v : o; });
}
// atomicInc stores (old >= v) ? 0 : old+1; atomicDec stores
// (old == 0 || old > v) ? v : old-1. Both return old.
inline unsigned int atomicInc(unsigned int* p, unsigned int v) {
	return cudasim::atomic_update(p, [v](unsigned int o) { return o >= v ? 0u : o + 1u; });
}
inline unsigned int atomicDec(unsigned int* p, unsigned int v) {
	return cudasim::atomic_update(p, [v](unsigned int o) { return (o == 0u || o > v) ? v : o - 1u; });
}
template <class T>
inline T cudasim_atomic_cas(T* p, T compare, T val) {
	cudasim::aref(p).compare_exchange_strong(compare, val, cudasim::relaxed);
	return compare;  // the old value, whether or not the swap happened
}
inline int atomicCAS(int* p, int c, int v) { return cudasim_atomic_cas(p, c, v); }
inline unsigned int atomicCAS(unsigned int* p, unsigned int c, unsigned int v) { return cudasim_atomic_cas(p, c, v); }
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long c, unsigned long long v) {
	return cudasim_atomic_cas(p, c, v);
}
inline unsigned short atomicCAS(unsigned short* p, unsigned short c, unsigned short v) {
	return cudasim_atomic_cas(p, c, v);
}
inline int atomicAnd(int* p, int v) { return cudasim::aref(p).fetch_and(v, cudasim::relaxed); }
inline unsigned int atomicAnd(unsigned int* p, unsigned int v) { return cudasim::aref(p).fetch_and(v, cudasim::relaxed); }
inline unsigned long long atomicAnd(unsigned long long* p, unsigned long long v) {
	return cudasim::aref(p).fetch_and(v, cudasim::relaxed);
}
inline int atomicOr(int* p, int v) { return cudasim::aref(p).fetch_or(v, cudasim::relaxed); }
inline unsigned int atomicOr(unsigned int* p, unsigned int v) { return cudasim::aref(p).fetch_or(v, cudasim::relaxed); }
inline unsigned long long atomicOr(unsigned long long* p, unsigned long long v) {
	return cudasim::aref(p).fetch_or(v, cudasim::relaxed);
}
inline int atomicXor(int* p, int v) { return cudasim::aref(p).fetch_xor(v, cudasim::relaxed); }
inline unsigned int atomicXor(unsigned int* p, unsigned int v) { return cudasim::aref(p).fetch_xor(v, cudasim::relaxed); }
inline unsigned long long atomicXor(unsigned long long* p, unsigned long long v) {
	return cudasim::aref(p).fetch_xor(v, cudasim::relaxed);
}

// Fences: blocks run one after another, so these only order one block's
// threads; they are sequentially consistent fences here.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---------------------------------------------------------------------------
// Synchronising built-ins. Each expansion carries its own call site so that
// barriers and warp collectives can check that all threads are at the same
// call and report file:line.

#define CUDASIM_SITE(what) \
	([]() -> const ::cudasim::Site* { \
		static const ::cudasim::Site cudasim_site{__FILE__, __LINE__, what}; \
		return &cudasim_site; \
	}())

namespace cudasim {
template <class T>
inline T shfl(const Site* s, int mode, unsigned mask, T var, int b, int width = warpSize) {
	static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
	              "warp shuffles move scalars of at most 8 bytes");
	std::uint64_t in = 0;
	std::memcpy(&in, &var, sizeof(T));
	std::uint64_t out = shfl_raw(s, mode, mask, in, (unsigned)b, width);
	T r;
	std::memcpy(&r, &out, sizeof(T));
	return r;
}
}  // namespace cudasim

#define __syncthreads() ::cudasim::syncthreads(CUDASIM_SITE("__syncthreads"))
#define __syncthreads_count(pred) \
	::cudasim::syncthreads_reduce(CUDASIM_SITE("__syncthreads_count"), (pred) ? 1 : 0, ::cudasim::ReduceCount)
#define __syncthreads_and(pred) \
	::cudasim::syncthreads_reduce(CUDASIM_SITE("__syncthreads_and"), (pred) ? 1 : 0, ::cudasim::ReduceAnd)
#define __syncthreads_or(pred) \
	::cudasim::syncthreads_reduce(CUDASIM_SITE("__syncthreads_or"), (pred) ? 1 : 0, ::cudasim::ReduceOr)
#define __syncwarp(...) ::cudasim::syncwarp(CUDASIM_SITE("__syncwarp") __VA_OPT__(, ) __VA_ARGS__)
#define __shfl_sync(mask, ...) \
	::cudasim::shfl(CUDASIM_SITE("__shfl_sync"), ::cudasim::ShflIdx, (mask), __VA_ARGS__)
#define __shfl_up_sync(mask, ...) \
	::cudasim::shfl(CUDASIM_SITE("__shfl_up_sync"), ::cudasim::ShflUp, (mask), __VA_ARGS__)
#define __shfl_down_sync(mask, ...) \
	::cudasim::shfl(CUDASIM_SITE("__shfl_down_sync"), ::cudasim::ShflDown, (mask), __VA_ARGS__)
#define __shfl_xor_sync(mask, ...) \
	::cudasim::shfl(CUDASIM_SITE("__shfl_xor_sync"), ::cudasim::ShflXor, (mask), __VA_ARGS__)
#define __ballot_sync(mask, pred) \
	::cudasim::vote(CUDASIM_SITE("__ballot_sync"), (mask), (pred) ? 1 : 0, ::cudasim::VoteBallot)
#define __any_sync(mask, pred) \
	int(::cudasim::vote(CUDASIM_SITE("__any_sync"), (mask), (pred) ? 1 : 0, ::cudasim::VoteAny))
#define __all_sync(mask, pred) \
	int(::cudasim::vote(CUDASIM_SITE("__all_sync"), (mask), (pred) ? 1 : 0, ::cudasim::VoteAll))

// ---------------------------------------------------------------------------
// Qualifiers and keywords (design section 3.2). These come last: libstdc++
// spells attributes such as __noinline__ that must not be macros while its
// headers are read.

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

// Static __shared__ variables are function (or namespace) statics: one copy
// per kernel, valid because blocks run one at a time under a launch mutex.
// Outside ASan they live in the cudasim_shared section, which the launcher
// fills with 0xff (a float NaN, -1 as an integer) before every block, as GPU
// shared memory starts with garbage. Under ASan they stay plain statics so
// that ASan keeps its redzones around them.
#if defined(__SANITIZE_ADDRESS__)
#define __shared__ static __attribute__((aligned(16)))
#else
#define __shared__ static __attribute__((section("cudasim_shared"), aligned(16)))
#endif

// CUDA_DYN_SMEM(T, name) declares the launch's dynamic shared memory as T*
// name; use it inside the kernel body. Under nvcc it is extern __shared__ T
// name[] (kernels/src/compat.cuh). The buffer has exactly the launch's smem
// bytes, so ASan (and a canary in plain builds) sees overruns.
#define CUDA_DYN_SMEM(T, name) T* const name = static_cast<T*>(::cudasim::dynamic_smem())
