// runtime_internal.h: declarations shared by the files of the simulator's
// runtime (registry.cc, memory.cc, exec.cc). Not an interface: kernels see
// cuda_sim.h, Go sees cudasim_abi.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_sim_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUDASIM_ASAN 1
#else
#define CUDASIM_ASAN 0
#endif

namespace cudasim {

// Param is one kernel parameter as the registry keeps it.
struct Param {
	int kind, size, align;
	std::string type, name;  // demangled C++ type; name from the source or "#i"
};

// Kernel is a registry entry.
struct Kernel {
	std::string name;
	LaunchThunk thunk;
	std::vector<Param> params;
	std::atomic<bool> threaded{false};  // reached a synchronising built-in once
	unsigned max_threads = 1024;        // __launch_bounds__
	std::size_t max_dyn_smem = 48 * 1024;
};

namespace detail {

std::string strf(const char* f, ...) __attribute__((format(printf, 1, 2)));
char* dup(const std::string& s);  // a malloc'd copy for the C ABI
[[noreturn]] void fatal(const std::string& msg);
std::string site_str(const Site* s);  // "__syncthreads at file.cu:12"

// Settings: environment variables read once, overridable through the ABI.
struct Settings {
	std::atomic<int> force_threads{0};      // CUDASIM_THREADS=1
	std::atomic<int64_t> timeout_ms{30000};  // CUDASIM_TIMEOUT (seconds)
	std::atomic<int> strict{1};              // CUDASIM_STRICT=0 turns it off
	Settings();
};
Settings& settings();

std::vector<Kernel*>& kernels();

// Device memory: exact-size, 256-byte-aligned C allocations recorded in an
// interval map. Outside ASan each allocation is surrounded by kGuard guard
// bytes, checked after every launch and at Free, so that out-of-bounds
// writes are reported without a sanitizer. Under ASan the allocation is
// exact and ASan's own redzones do that job.
constexpr std::size_t kAlign = 256;
constexpr std::size_t kGuard = CUDASIM_ASAN ? 0 : 256;

struct Alloc {
	uintptr_t base;
	std::size_t size;
	uint64_t ctx;        // the owning simulator context
	unsigned char* raw;  // the C allocation, guard bytes included
};

extern std::mutex mem_mu;  // guards allocs()
std::map<uintptr_t, Alloc>& allocs();

inline unsigned char guard_byte(std::size_t i) { return (unsigned char)(0xa5u ^ (i * 0x3bu)); }

// check_guards returns "" or a description of the overwritten guard bytes,
// and restores them so that one overrun is reported once. Caller holds
// mem_mu.
std::string check_guards(Alloc& a);

// find_alloc returns the allocation with base <= p <= base+size (the end
// pointer counts as inside), or nullptr. Caller holds mem_mu.
Alloc* find_alloc(uintptr_t p);

// check_range validates [p, p+n) as device memory of ctx, or describes why
// it is not ("" when it is). Caller holds mem_mu.
std::string check_range(uint64_t ctx, uintptr_t p, std::size_t n, const char* what);

}  // namespace detail
}  // namespace cudasim
