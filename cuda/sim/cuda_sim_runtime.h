// cuda_sim_runtime.h: the part of the CUDA simulator shared by the runtime
// (registry.cc, memory.cc, exec.cc) and the kernel-facing header
// (cuda_sim.h): CUDA's vector types, the thread-local built-in variables,
// call sites, and the runtime functions that the built-ins call. It defines
// no CUDA keyword macros and no math, so the runtime can include it next to
// the C++ standard library.
//
// Design: docs/CUDASIM.md (sections 2, 3 and 7).
#pragma once

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "the CUDA simulator needs C++20 (g++ -std=c++20)"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

// ---------------------------------------------------------------------------
// Vector types with CUDA's sizes and alignments (CUDA 11.8 vector_types.h):
// 2-vectors are aligned to their size, 4-vectors to min(size, 16), 1- and
// 3-vectors to their element.

#define CUDASIM_VEC1(T, N, A) \
	struct __attribute__((aligned(A))) N##1 { T x; }; \
	constexpr N##1 make_##N##1(T x) { return N##1{x}; }
#define CUDASIM_VEC2(T, N, A) \
	struct __attribute__((aligned(A))) N##2 { T x, y; }; \
	constexpr N##2 make_##N##2(T x, T y) { return N##2{x, y}; }
#define CUDASIM_VEC3(T, N, A) \
	struct __attribute__((aligned(A))) N##3 { T x, y, z; }; \
	constexpr N##3 make_##N##3(T x, T y, T z) { return N##3{x, y, z}; }
#define CUDASIM_VEC4(T, N, A) \
	struct __attribute__((aligned(A))) N##4 { T x, y, z, w; }; \
	constexpr N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }
#define CUDASIM_VECS(T, N, A1, A2, A3, A4) \
	CUDASIM_VEC1(T, N, A1) CUDASIM_VEC2(T, N, A2) CUDASIM_VEC3(T, N, A3) CUDASIM_VEC4(T, N, A4)

CUDASIM_VECS(signed char, char, 1, 2, 1, 4)
CUDASIM_VECS(unsigned char, uchar, 1, 2, 1, 4)
CUDASIM_VECS(short, short, 2, 4, 2, 8)
CUDASIM_VECS(unsigned short, ushort, 2, 4, 2, 8)
CUDASIM_VECS(int, int, 4, 8, 4, 16)
CUDASIM_VECS(unsigned int, uint, 4, 8, 4, 16)
CUDASIM_VECS(long long, longlong, 8, 16, 8, 16)
CUDASIM_VECS(unsigned long long, ulonglong, 8, 16, 8, 16)
CUDASIM_VECS(float, float, 4, 8, 4, 16)
CUDASIM_VECS(double, double, 8, 16, 8, 16)

#undef CUDASIM_VECS
#undef CUDASIM_VEC1
#undef CUDASIM_VEC2
#undef CUDASIM_VEC3
#undef CUDASIM_VEC4

static_assert(sizeof(float4) == 16 && alignof(float4) == 16);
static_assert(sizeof(float3) == 12 && alignof(float3) == 4);
static_assert(sizeof(float2) == 8 && alignof(float2) == 8);
static_assert(sizeof(double2) == 16 && alignof(double2) == 16);

// dim3 is CUDA's launch-size type: a uint3 whose components default to 1.
struct dim3 {
	unsigned int x, y, z;
	constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
	constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
	constexpr operator uint3() const { return uint3{x, y, z}; }
};

// ---------------------------------------------------------------------------
// Built-in variables. Each simulated CUDA thread runs on its own OS thread
// (or, before escalation, on the launching thread), which sets these before
// it calls the kernel. They are constant-initialised, so reading them costs a
// plain TLS load.

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace cudasim {

// Site is one call site of a synchronising built-in: barriers and warp
// collectives compare sites to detect divergence and report file:line.
struct Site {
	const char* file;
	int line;
	const char* what;  // "__syncthreads", "__shfl_xor_sync", ...
};

// Shuffle modes, in PTX shfl.sync's terms.
enum ShflMode { ShflIdx = 0, ShflUp = 1, ShflDown = 2, ShflXor = 3 };
// Block-wide reductions of __syncthreads_count/and/or.
enum ReduceOp { ReduceCount = 0, ReduceAnd = 1, ReduceOr = 2 };
// Warp votes.
enum VoteOp { VoteBallot = 0, VoteAny = 1, VoteAll = 2 };

// Runtime entry points of the built-ins (exec.cc). Each may throw an
// internal exception type that unwinds the simulated thread when the launch
// fails; kernels never see it.
void syncthreads(const Site* s);
int syncthreads_reduce(const Site* s, int pred, int op);
std::uint64_t shfl_raw(const Site* s, int mode, unsigned mask, std::uint64_t v, unsigned b, int width);
unsigned vote(const Site* s, unsigned mask, int pred, int op);
void syncwarp(const Site* s, unsigned mask = 0xffffffffu);
void* dynamic_smem();

// Parameter kinds, as the Go binding checks its arguments against them.
enum ParamKind {
	KindPointer = 1,
	KindInt32 = 2,
	KindUint32 = 3,
	KindInt64 = 4,
	KindUint64 = 5,
	KindFloat32 = 6,
	KindFloat64 = 7,
	KindOther = 8,
};

struct ParamInfo {
	int kind;
	int size;
	int pointee_align;       // for pointers: alignof(*p), 1 for void
	const char* type_name;   // mangled (typeid(T).name()); the runtime demangles
};

// LaunchConfig is one launch's geometry and the simulator context it runs in.
struct LaunchConfig {
	unsigned grid[3];
	unsigned block[3];
	std::size_t smem;
	std::uint64_t ctx;
};

struct Kernel;  // runtime-owned registry entry

// Status codes of launches: 0 ok; LaunchInvalid: rejected before running
// (nothing ran); LaunchFault: the kernel failed while running.
enum { LaunchOK = 0, LaunchInvalid = 1, LaunchFault = 2 };

using LaunchThunk = int (*)(Kernel* k, const LaunchConfig& cfg, void* const* args, char** err);
using InvokeFn = void (*)(const void* closure);

void register_kernel(const char* name, LaunchThunk thunk, const ParamInfo* params, int nparams,
                     const char* const* names, int nnames, bool threaded);
void set_launch_bounds(const char* name, unsigned max_threads);
void register_source(const char* group, const char* path, const char* sha256);
int check_pointer_param(Kernel* k, const LaunchConfig& cfg, int index, const void* p, std::size_t align, char** err);
int run_grid(Kernel* k, const LaunchConfig& cfg, InvokeFn invoke, const void* closure, char** err);

// ---------------------------------------------------------------------------
// Launch trampoline: copies each parameter out of its 8-byte slot (as
// cuLaunchKernel does), validates pointer parameters, and runs the grid.

template <class T>
ParamInfo param_info() {
	static_assert(std::is_trivially_copyable_v<T>, "kernel parameters must be trivially copyable");
	int kind = KindOther;
	int align = 1;
	if constexpr (std::is_pointer_v<T>) {
		kind = KindPointer;
		using E = std::remove_cv_t<std::remove_pointer_t<T>>;
		if constexpr (!std::is_void_v<E> && !std::is_function_v<E>) align = alignof(E);
	} else if constexpr (std::is_floating_point_v<T>) {
		kind = sizeof(T) == 4 ? KindFloat32 : sizeof(T) == 8 ? KindFloat64 : KindOther;
	} else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
		if constexpr (sizeof(T) == 4) kind = std::is_signed_v<T> ? KindInt32 : KindUint32;
		else if constexpr (sizeof(T) == 8) kind = std::is_signed_v<T> ? KindInt64 : KindUint64;
	}
	return ParamInfo{kind, int(sizeof(T)), align, typeid(T).name()};
}

template <class T>
T load_param(const void* slot) {
	T v;
	std::memcpy(static_cast<void*>(&v), slot, sizeof(T));
	return v;
}

template <class F>
struct Signature;

template <class... P>
struct Signature<void (*)(P...)> {
	static constexpr int arity = sizeof...(P);

	static const ParamInfo* params() {
		static const ParamInfo infos[sizeof...(P) + 1] = {param_info<std::decay_t<P>>()..., ParamInfo{}};
		return infos;
	}

	template <auto K, std::size_t... I>
	static int launch(Kernel* k, const LaunchConfig& cfg, void* const* args, char** err, std::index_sequence<I...>) {
		using Tuple = std::tuple<std::decay_t<P>...>;
		// The closure is shared read-only by every simulated thread; std::apply
		// hands each thread its own copies of the parameters.
		struct Closure {
			Tuple params;
		};
		Closure c{Tuple{load_param<std::decay_t<P>>(args[I])...}};
		int rc = LaunchOK;
		(void)((rc == LaunchOK &&
		        (rc = check_param<std::decay_t<P>>(k, cfg, int(I), std::get<I>(c.params), err)) == LaunchOK) &&
		       ...);
		if (rc != LaunchOK) return rc;
		return run_grid(
		    k, cfg, [](const void* p) { std::apply(K, static_cast<const Closure*>(p)->params); }, &c, err);
	}

	template <class T>
	static int check_param(Kernel* k, const LaunchConfig& cfg, int index, const T& v, char** err) {
		if constexpr (std::is_pointer_v<T>) {
			using E = std::remove_cv_t<std::remove_pointer_t<T>>;
			std::size_t align = 1;
			if constexpr (!std::is_void_v<E> && !std::is_function_v<E>) align = alignof(E);
			return check_pointer_param(k, cfg, index, (const void*)(v), align, err);
		} else {
			(void)k, (void)cfg, (void)index, (void)v, (void)err;
			return LaunchOK;
		}
	}
};

template <auto K>
int launch_thunk(Kernel* k, const LaunchConfig& cfg, void* const* args, char** err) {
	using S = Signature<decltype(K)>;
	return S::template launch<K>(k, cfg, args, err, std::make_index_sequence<S::arity>{});
}

// Registrar registers kernel K under name at static-initialisation time.
template <auto K>
struct Registrar {
	Registrar(const char* name, bool threaded, std::initializer_list<const char*> names) {
		using S = Signature<decltype(K)>;
		register_kernel(name, &launch_thunk<K>, S::params(), S::arity, names.begin(), int(names.size()),
		                threaded);
	}
};

struct BoundsRegistrar {
	BoundsRegistrar(const char* name, unsigned max_threads) { set_launch_bounds(name, max_threads); }
};

struct SourceRegistrar {
	SourceRegistrar(const char* group, const char* path, const char* sha256) {
		register_source(group, path, sha256);
	}
};

}  // namespace cudasim

// CUDASIM_REGISTER(kernel, "param0", "param1", ...) registers an extern "C"
// __global__ kernel for launch by name; the parameter names are optional and
// only used in error messages. CUDASIM_REGISTER_THREADED does the same for a
// kernel that must always start with one OS thread per CUDA thread (see
// "lazy threading" in doc.go). The generated kernels_sim.cc uses these.
#define CUDASIM_REGISTER(k, ...) \
	static ::cudasim::Registrar<&k> cudasim_registrar_##k(#k, false, {__VA_ARGS__});
#define CUDASIM_REGISTER_THREADED(k, ...) \
	static ::cudasim::Registrar<&k> cudasim_registrar_##k(#k, true, {__VA_ARGS__});
// CUDASIM_LAUNCH_BOUNDS(kernel, n) makes launches of more than n threads per
// block fail, as __launch_bounds__(n) does on a GPU.
#define CUDASIM_LAUNCH_BOUNDS(k, n) static ::cudasim::BoundsRegistrar cudasim_bounds_##k(#k, (n));
// CUDASIM_SOURCE records a source file's SHA-256 so the Go side can tell when
// the compiled simulator is older than the sources.
#define CUDASIM_SOURCE(group, path, sha) \
	static ::cudasim::SourceRegistrar CUDASIM_CAT(cudasim_source_, __COUNTER__)(group, path, sha);
#define CUDASIM_CAT2(a, b) a##b
#define CUDASIM_CAT(a, b) CUDASIM_CAT2(a, b)
