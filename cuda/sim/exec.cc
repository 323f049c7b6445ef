// exec.cc: the simulator's execution engine: the launch loop with lazy
// threading, exit-aware site-checked barriers, warp collectives, the worker
// pool, the deadlock watchdog, shared memory, and the launch part of the C
// ABI (cudasim_abi.h). Design: docs/CUDASIM.md sections 3.4
// to 3.8.
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "cudasim_abi.h"
#include "runtime_internal.h"

namespace cudasim {

using namespace detail;

namespace {

void futex_wait(std::atomic<uint32_t>* a, uint32_t val) {
	syscall(SYS_futex, reinterpret_cast<uint32_t*>(a), FUTEX_WAIT_PRIVATE, val, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<uint32_t>* a, int n) {
	syscall(SYS_futex, reinterpret_cast<uint32_t*>(a), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

int64_t now_ms() {
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------------------
// Execution state. One block runs at a time (launches hold launch_mu); its
// threads share the Block below.

enum Mode { ModeSerial = 0, ModeThreaded = 1 };
enum Status : uint8_t { StatusIdle = 0, StatusRunning = 1, StatusWaiting = 2, StatusExited = 3 };

// Cancelled unwinds a simulated thread of a block that failed; Failed unwinds
// the thread that found the failure (after it recorded the message).
struct Cancelled {};
struct Failed {};

// Barrier is an exit-aware counting barrier: state packs the number of threads
// that take part (not yet exited, high 16 bits) and the number that arrived
// (low 16 bits); waiters sleep on gen (a futex) until the phase completes.
// site is the call site of the phase's first arrival.
struct Barrier {
	std::atomic<uint32_t> state{0};
	std::atomic<uint32_t> gen{0};
	std::atomic<const Site*> site{nullptr};
	void reset(unsigned expected) {
		state.store(uint32_t(expected) << 16, std::memory_order_relaxed);
		site.store(nullptr, std::memory_order_relaxed);
	}
};

struct ThreadCtx {
	unsigned tid = 0, lane = 0, warp = 0;
	uint3 idx{0, 0, 0};
	uint32_t bseq = 0, wseq = 0;  // block barriers and warp collectives passed
	int mode = ModeSerial;
};

struct WarpSlot {
	uint64_t payload;
	uint64_t tag;  // epoch<<32 | wseq of the writer
	unsigned mask;
	int pred;
};

struct CountSlot {
	uint64_t tag;
	int pred;
};

struct Block {
	Kernel* kernel = nullptr;
	InvokeFn invoke = nullptr;
	const void* closure = nullptr;
	dim3 bdim, gdim;
	uint3 bidx{0, 0, 0};
	unsigned n = 0, nwarps = 0;
	uint64_t epoch = 0;
	std::atomic<bool> threaded{false};    // threads run on the worker pool
	std::atomic<unsigned> serial_tid{0};  // the thread running serially (for the watchdog)
	std::atomic<bool> cancelled{false};
	std::atomic<unsigned> exited{0};  // threads that returned (threaded mode)
	std::atomic<int> first_exited{-1};
	Barrier bar;
	Barrier wbar[32];
	WarpSlot wslots[32][2][32];
	CountSlot cslots[2][1024];
	ThreadCtx ctx[1024];
	std::atomic<uint8_t> status[1024];
	std::atomic<const Site*> wait_site[1024];
	std::mutex err_mu;
	bool has_error = false;
	std::string error;
};

Block& block() {
	static Block* b = new Block;  // never destroyed: workers may outlive static destructors
	return *b;
}

std::mutex launch_mu;
std::atomic<bool> launch_active{false};
std::atomic<uint64_t> progress{0};
std::atomic<uint64_t> epochs{0};
void* dyn_smem_ptr = nullptr;
thread_local ThreadCtx* t_ctx = nullptr;

std::string where(const Block& b, const ThreadCtx& c) {
	return strf("block (%u,%u,%u) thread (%u,%u,%u)", b.bidx.x, b.bidx.y, b.bidx.z, c.idx.x, c.idx.y, c.idx.z);
}

uint3 thread_index(const Block& b, unsigned tid) {
	return uint3{tid % b.bdim.x, (tid / b.bdim.x) % b.bdim.y, tid / (b.bdim.x * b.bdim.y)};
}

void record_error(Block& b, const std::string& msg) {
	std::lock_guard<std::mutex> lk(b.err_mu);
	if (!b.has_error) {
		b.has_error = true;
		b.error = msg;
	}
}

void wake_all_barriers(Block& b) {
	b.bar.gen.fetch_add(1, std::memory_order_release);
	futex_wake(&b.bar.gen, INT_MAX);
	for (unsigned w = 0; w < b.nwarps; w++) {
		b.wbar[w].gen.fetch_add(1, std::memory_order_release);
		futex_wake(&b.wbar[w].gen, INT_MAX);
	}
}

void cancel_block(Block& b) {
	b.cancelled.store(true, std::memory_order_release);
	wake_all_barriers(b);
}

// fail records msg for the calling simulated thread, cancels the block and
// unwinds the caller.
[[noreturn]] void fail(const std::string& msg) {
	Block& b = block();
	ThreadCtx* c = t_ctx;
	record_error(b, c ? where(b, *c) + ": " + msg : msg);
	cancel_block(b);
	throw Failed{};
}

// complete finishes a barrier phase in which `arrived` threads wait. It
// returns false, without releasing anyone, when strict mode rejects the
// phase because a thread of the block already returned.
bool complete(Block& b, Barrier& bar, uint32_t arrived, bool block_level) {
	const Site* s = bar.site.load(std::memory_order_acquire);
	bar.state.fetch_sub(arrived, std::memory_order_acq_rel);
	bar.site.store(nullptr, std::memory_order_release);
	progress.fetch_add(1, std::memory_order_relaxed);
	if (block_level && settings().strict.load(std::memory_order_relaxed) &&
	    b.exited.load(std::memory_order_acquire) > 0) {
		int t = b.first_exited.load();
		uint3 ti = thread_index(b, t < 0 ? 0 : unsigned(t));
		record_error(b, strf("block (%u,%u,%u): thread (%u,%u,%u) returned before the %s that the rest of its block "
		                     "waits in; CUDA releases such a barrier, but the simulator's strict mode rejects it "
		                     "(guard the kernel body instead of returning early, docs/CUDASIM.md section 7 rule 3, or "
		                     "set CUDASIM_STRICT=0)",
		                     b.bidx.x, b.bidx.y, b.bidx.z, ti.x, ti.y, ti.z, site_str(s).c_str()));
		cancel_block(b);
		return false;
	}
	bar.gen.fetch_add(1, std::memory_order_release);
	futex_wake(&bar.gen, INT_MAX);
	return true;
}

// arrive makes the calling thread wait in bar at site s until every thread
// that takes part has arrived or exited.
void arrive(Block& b, Barrier& bar, ThreadCtx& c, const Site* s, bool block_level) {
	if (b.cancelled.load(std::memory_order_acquire)) throw Cancelled{};
	const Site* first = nullptr;
	if (!bar.site.compare_exchange_strong(first, s, std::memory_order_acq_rel) && first != s) {
		if (block_level)
			fail(strf("divergent barrier: this thread reached %s while other threads of the block wait in %s "
			          "(__syncthreads must be reached by all threads at the same call)",
			          site_str(s).c_str(), site_str(first).c_str()));
		fail(strf("divergent warp collective: this lane reached %s while other lanes of warp %u wait in %s "
		          "(warp collectives must be called in warp-uniform control flow)",
		          site_str(s).c_str(), c.warp, site_str(first).c_str()));
	}
	uint32_t g = bar.gen.load(std::memory_order_acquire);
	progress.fetch_add(1, std::memory_order_relaxed);
	uint32_t st = bar.state.fetch_add(1, std::memory_order_acq_rel) + 1;
	if ((st & 0xffffu) == (st >> 16)) {
		if (!complete(b, bar, st & 0xffffu, block_level)) throw Cancelled{};
		return;
	}
	b.wait_site[c.tid].store(s, std::memory_order_relaxed);
	b.status[c.tid].store(StatusWaiting, std::memory_order_release);
	while (bar.gen.load(std::memory_order_acquire) == g && !b.cancelled.load(std::memory_order_acquire))
		futex_wait(&bar.gen, g);
	b.status[c.tid].store(StatusRunning, std::memory_order_release);
	if (b.cancelled.load(std::memory_order_acquire)) throw Cancelled{};
}

// drop removes an exited thread from bar, completing the phase when
// everyone left already waits (PTX exit: barriers release exited threads).
void drop(Block& b, Barrier& bar, bool block_level) {
	uint32_t st = bar.state.fetch_sub(1u << 16, std::memory_order_acq_rel) - (1u << 16);
	uint32_t arrived = st & 0xffffu, expected = st >> 16;
	if (arrived > 0 && arrived == expected) complete(b, bar, arrived, block_level);
}

void thread_exit(Block& b, ThreadCtx& c) {
	b.status[c.tid].store(StatusExited, std::memory_order_release);
	progress.fetch_add(1, std::memory_order_relaxed);
	if (b.cancelled.load(std::memory_order_acquire)) return;
	b.exited.fetch_add(1, std::memory_order_acq_rel);
	int none = -1;
	b.first_exited.compare_exchange_strong(none, int(c.tid));
	drop(b, b.wbar[c.warp], false);
	drop(b, b.bar, true);
}

void set_builtins(const Block& b, const ThreadCtx& c) {
	threadIdx = c.idx;
	blockIdx = b.bidx;
	blockDim = b.bdim;
	gridDim = b.gdim;
}

void init_ctx(Block& b, unsigned tid, int mode) {
	ThreadCtx& c = b.ctx[tid];
	c.tid = tid;
	c.lane = tid % 32;
	c.warp = tid / 32;
	c.idx = thread_index(b, tid);
	c.bseq = c.wseq = 0;
	c.mode = mode;
}

// invoke runs the kernel body for the current thread and turns failures into
// the block's error.
void invoke(Block& b) {
	try {
		b.invoke(b.closure);
	} catch (Cancelled&) {
	} catch (Failed&) {
	} catch (std::exception& e) {
		record_error(b, where(b, *t_ctx) + ": C++ exception in kernel: " + e.what());
		cancel_block(b);
	}
}

// ---------------------------------------------------------------------------
// Worker pool: worker i plays CUDA thread i of the current block. Workers are
// created on demand, kept for the life of the process, run on small stacks
// and block every signal so that Go's signals land on Go threads.

struct Worker {
	unsigned id = 0;
	std::atomic<uint32_t> go{0};
};

Worker* workers[1024];
unsigned nworkers = 1;  // workers[1..nworkers-1] exist; thread 0 is never a worker
std::atomic<uint32_t> running{0};
constexpr std::size_t kWorkerStack = CUDASIM_ASAN ? (2u << 20) : (512u << 10);

void run_threaded(Block& b, unsigned tid) {
	init_ctx(b, tid, ModeThreaded);
	ThreadCtx& c = b.ctx[tid];
	t_ctx = &c;
	set_builtins(b, c);
	b.status[tid].store(StatusRunning, std::memory_order_release);
	invoke(b);
	thread_exit(b, c);
	t_ctx = nullptr;
}

void* worker_main(void* arg) {
	Worker* w = static_cast<Worker*>(arg);
	uint32_t seen = 0;
	for (;;) {
		uint32_t g;
		while ((g = w->go.load(std::memory_order_acquire)) == seen) futex_wait(&w->go, seen);
		seen = g;
		run_threaded(block(), w->id);
		if (running.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake(&running, INT_MAX);
	}
	return nullptr;
}

// spawn starts a detached thread with every signal blocked and a small stack.
void spawn(void* (*fn)(void*), void* arg, std::size_t stack) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	int rc = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	if (rc != 0) fatal(strf("pthread_create: %s", std::strerror(rc)));
}

void start_workers(unsigned from, unsigned to) {
	while (nworkers < to) {
		Worker* w = new Worker;
		w->id = nworkers;
		workers[nworkers++] = w;
		spawn(worker_main, w, kWorkerStack);
	}
	running.store(from < to ? to - from : 0, std::memory_order_release);
	for (unsigned i = from; i < to; i++) {
		workers[i]->go.fetch_add(1, std::memory_order_release);
		futex_wake(&workers[i]->go, 1);
	}
}

void wait_workers() {
	uint32_t r;
	while ((r = running.load(std::memory_order_acquire)) != 0) futex_wait(&running, r);
}

// escalate switches the block from serial execution to one OS thread per
// CUDA thread. The caller, thread k, has reached a synchronising built-in
// (synchronised, which makes the kernel start threaded from now on) or is
// thread 0 of a block that starts threaded. Threads 0..k-1 ran to completion
// without one and count as exited; threads k+1..n-1 start on workers from the
// beginning of the kernel.
void escalate(Block& b, ThreadCtx& c, bool synchronised) {
	unsigned k = c.tid;
	b.bar.reset(b.n - k);
	for (unsigned w = 0; w < b.nwarps; w++) {
		unsigned lo = std::max(w * 32, k), hi = std::min(w * 32 + 32, b.n);
		b.wbar[w].reset(hi > lo ? hi - lo : 0);
	}
	b.exited.store(k, std::memory_order_release);
	b.first_exited.store(k > 0 ? 0 : -1);
	b.threaded = true;
	if (synchronised) b.kernel->threaded.store(true, std::memory_order_relaxed);
	c.mode = ModeThreaded;
	start_workers(k + 1, b.n);
}

// enter is the common entry of every synchronising built-in.
ThreadCtx& enter() {
	ThreadCtx* c = t_ctx;
	if (!c) fatal("a synchronising CUDA built-in was called outside a simulated kernel");
	Block& b = block();
	if (c->mode == ModeSerial) escalate(b, *c, true);
	if (b.cancelled.load(std::memory_order_acquire)) throw Cancelled{};
	return *c;
}

// ---------------------------------------------------------------------------
// Watchdog: aborts a launch that makes no progress (no arrival, no completed
// barrier, no returning thread) for CUDASIM_TIMEOUT seconds. When every live
// thread waits in a built-in the launch fails with a report of who waits
// where; when a thread is stuck elsewhere (an endless loop) the process
// aborts, since that thread cannot be unwound.

// cancel_mu orders the watchdog's cancellation of a block with the end of
// that block: the launcher takes it after every block, so the watchdog never
// touches the barriers of a block that has finished (and whose barriers the
// next block already uses).
std::mutex cancel_mu;

void stall(int64_t ms, uint64_t seen) {
	std::lock_guard<std::mutex> lk(cancel_mu);
	if (!launch_active.load(std::memory_order_acquire) || progress.load() != seen) return;
	Block& b = block();
	std::string head = strf("kernel %s made no progress for %.1f s in block (%u,%u,%u)", b.kernel->name.c_str(),
	                        double(ms) / 1000, b.bidx.x, b.bidx.y, b.bidx.z);
	if (!b.threaded) {
		const ThreadCtx& c = b.ctx[b.serial_tid];
		fatal(head + strf(": thread (%u,%u,%u) neither returned nor reached a synchronising built-in (an endless "
		                  "loop?)",
		                  c.idx.x, c.idx.y, c.idx.z));
	}
	std::map<const Site*, std::vector<unsigned>> waiting;
	std::vector<unsigned> busy;
	for (unsigned t = 0; t < b.n; t++) {
		uint8_t st = b.status[t].load(std::memory_order_acquire);
		if (st == StatusWaiting)
			waiting[b.wait_site[t].load(std::memory_order_relaxed)].push_back(t);
		else if (st != StatusExited)
			busy.push_back(t);
	}
	std::string report;
	for (auto& [s, ts] : waiting) {
		bool warp_level = s && std::strcmp(s->what, "__syncthreads") != 0 && std::strncmp(s->what, "__syncthreads_", 14) != 0;
		if (warp_level) {
			std::map<unsigned, unsigned> per_warp;
			for (unsigned t : ts) per_warp[t / 32]++;
			for (auto& [w, n] : per_warp)
				report += strf("; warp %u: %u lane(s) wait in %s", w, n, site_str(s).c_str());
		} else {
			report += strf("; %zu thread(s) wait in %s (threads %u..%u)", ts.size(), site_str(s).c_str(), ts.front(),
			               ts.back());
		}
	}
	if (!busy.empty()) {
		uint3 ti = thread_index(b, busy.front());
		fatal(head + strf(": %zu thread(s) neither returned nor reached a synchronising built-in (an endless loop?), "
		                  "the first is thread (%u,%u,%u)",
		                  busy.size(), ti.x, ti.y, ti.z) +
		      report);
	}
	record_error(b, "deadlock: " + head + report);
	cancel_block(b);
}

void* watchdog_main(void*) {
	uint64_t last = progress.load();
	int64_t since = now_ms();
	for (;;) {
		int64_t timeout = settings().timeout_ms.load(std::memory_order_relaxed);
		int64_t poll = std::clamp<int64_t>(timeout / 4, 5, 200);
		struct timespec ts{time_t(poll / 1000), long(poll % 1000) * 1000000L};
		nanosleep(&ts, nullptr);
		uint64_t p = progress.load(std::memory_order_relaxed);
		int64_t now = now_ms();
		if (!launch_active.load(std::memory_order_acquire) || p != last) {
			last = p;
			since = now;
			continue;
		}
		if (now - since >= timeout) {
			stall(now - since, p);
			since = now;
		}
	}
	return nullptr;
}

void start_watchdog() {
	static std::once_flag once;
	std::call_once(once, [] { spawn(watchdog_main, nullptr, 256u << 10); });
}

}  // namespace
}  // namespace cudasim

// ---------------------------------------------------------------------------
// Shared memory.

// The linker provides these for the cudasim_shared section that holds every
// static __shared__ variable (absent under ASan, or with no such variables).
extern "C" char __start_cudasim_shared[] __attribute__((weak));
extern "C" char __stop_cudasim_shared[] __attribute__((weak));

namespace cudasim {
namespace {

constexpr std::size_t kDynGuard = CUDASIM_ASAN ? 0 : 64;

void poison_static_shared() {
	uintptr_t lo = reinterpret_cast<uintptr_t>(&__start_cudasim_shared[0]);
	uintptr_t hi = reinterpret_cast<uintptr_t>(&__stop_cudasim_shared[0]);
	if (lo != 0 && hi > lo) std::memset(__start_cudasim_shared, 0xff, hi - lo);
}

// Launch bookkeeping, under launch_mu: the pointer parameters of the current
// launch, to name them when a guard is found overwritten.
struct PtrParam {
	int index;
	uintptr_t p;
};
std::vector<PtrParam> launch_ptrs;

std::string param_label(const Kernel* k, int i) {
	const Param& p = k->params[i];
	return strf("parameter %d (%s %s)", i, p.type.c_str(), p.name.c_str());
}

void run_block(Block& b) {
	bool threaded = settings().force_threads.load(std::memory_order_relaxed) ||
	                b.kernel->threaded.load(std::memory_order_relaxed);
	for (unsigned t = 0; t < b.n; t++) b.status[t].store(StatusIdle, std::memory_order_relaxed);
	b.threaded = false;
	b.cancelled.store(false);
	b.exited.store(0);
	b.first_exited.store(-1);
	b.epoch = epochs.fetch_add(1) + 1;
	progress.fetch_add(1, std::memory_order_relaxed);
	if (threaded) {
		init_ctx(b, 0, ModeSerial);
		t_ctx = &b.ctx[0];
		escalate(b, b.ctx[0], false);
		b.serial_tid = 0;
		run_threaded(b, 0);
		wait_workers();
		return;
	}
	for (unsigned t = 0; t < b.n; t++) {
		init_ctx(b, t, ModeSerial);
		ThreadCtx& c = b.ctx[t];
		t_ctx = &c;
		b.serial_tid = t;
		set_builtins(b, c);
		b.status[t].store(StatusRunning, std::memory_order_release);
		invoke(b);
		if (b.threaded) {  // thread t escalated
			thread_exit(b, c);
			t_ctx = nullptr;
			wait_workers();
			return;
		}
		b.status[t].store(StatusExited, std::memory_order_release);
		progress.fetch_add(1, std::memory_order_relaxed);
		if (b.cancelled.load()) break;
	}
	t_ctx = nullptr;
}

}  // namespace

int check_pointer_param(Kernel* k, const LaunchConfig& cfg, int index, const void* ptr, std::size_t align,
                        char** err) {
	uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
	if (p == 0) return LaunchOK;
	launch_ptrs.push_back(PtrParam{index, p});
	std::string msg;
	{
		std::lock_guard<std::mutex> lk(mem_mu);
		Alloc* a = find_alloc(p);
		if (!a)
			msg = strf("0x%" PRIxPTR " is not device memory from Malloc (a host pointer, a freed buffer or a stray "
			           "address)",
			           p);
		else if (a->ctx != cfg.ctx)
			msg = strf("0x%" PRIxPTR " belongs to another simulator context", p);
		else if (p % align != 0)
			msg = strf("0x%" PRIxPTR " is not aligned to the %zu bytes its type needs", p, align);
	}
	if (msg.empty()) return LaunchOK;
	*err = dup(param_label(k, index) + ": " + msg);
	return LaunchInvalid;
}

int run_grid(Kernel* k, const LaunchConfig& cfg, InvokeFn fn, const void* closure, char** err) {
	const unsigned* g = cfg.grid;
	const unsigned* bl = cfg.block;
	unsigned long long n = (unsigned long long)bl[0] * bl[1] * bl[2];
	std::string bad;
	if (g[0] == 0 || g[1] == 0 || g[2] == 0 || bl[0] == 0 || bl[1] == 0 || bl[2] == 0)
		bad = "grid and block sizes must be at least 1";
	else if (bl[0] > 1024 || bl[1] > 1024 || bl[2] > 64 || n > 1024)
		bad = strf("block (%u,%u,%u) has %llu threads; CUDA allows at most 1024 per block (x,y <= 1024, z <= 64)", bl[0],
		           bl[1], bl[2], n);
	else if (n > k->max_threads)
		bad = strf("block of %llu threads exceeds the kernel's __launch_bounds__(%u) (too many resources requested "
		           "for launch)",
		           n, k->max_threads);
	else if (g[0] > 0x7fffffffu || g[1] > 65535 || g[2] > 65535)
		bad = strf("grid (%u,%u,%u) exceeds CUDA's limits (x < 2^31, y,z <= 65535)", g[0], g[1], g[2]);
	else if (cfg.smem > k->max_dyn_smem)
		bad = strf("%zu bytes of dynamic shared memory exceed the %zu-byte limit (48 KB unless the kernel opts in)",
		           cfg.smem, k->max_dyn_smem);
	if (!bad.empty()) {
		*err = dup(bad);
		return LaunchInvalid;
	}

	start_watchdog();
	Block& b = block();
	b.kernel = k;
	b.invoke = fn;
	b.closure = closure;
	b.bdim = dim3(bl[0], bl[1], bl[2]);
	b.gdim = dim3(g[0], g[1], g[2]);
	b.n = unsigned(n);
	b.nwarps = (b.n + 31) / 32;
	{
		std::lock_guard<std::mutex> lk(b.err_mu);
		b.has_error = false;
		b.error.clear();
	}

	unsigned char* dyn = nullptr;
	if (cfg.smem > 0 || CUDASIM_ASAN) {
		dyn = static_cast<unsigned char*>(::operator new[](cfg.smem + kDynGuard, std::align_val_t(kAlign)));
	}
	dyn_smem_ptr = dyn;

	std::string dyn_overrun;
	launch_active.store(true, std::memory_order_release);
	for (unsigned z = 0; z < g[2] && !b.has_error && dyn_overrun.empty(); z++)
		for (unsigned y = 0; y < g[1] && !b.has_error && dyn_overrun.empty(); y++)
			for (unsigned x = 0; x < g[0] && !b.has_error && dyn_overrun.empty(); x++) {
				b.bidx = uint3{x, y, z};
				poison_static_shared();
				if (dyn) {
					std::memset(dyn, 0xff, cfg.smem);
					for (std::size_t i = 0; i < kDynGuard; i++) dyn[cfg.smem + i] = guard_byte(i);
				}
				run_block(b);
				{
					std::lock_guard<std::mutex> lk(cancel_mu);  // wait for a cancelling watchdog
				}
				for (std::size_t i = 0; dyn && i < kDynGuard; i++)
					if (dyn[cfg.smem + i] != guard_byte(i)) {
						dyn_overrun = strf("block (%u,%u,%u): out-of-bounds write past the end of the %zu bytes of "
						                   "dynamic shared memory (byte %zu past the end)",
						                   x, y, z, cfg.smem, i);
						break;
					}
			}
	launch_active.store(false, std::memory_order_release);
	dyn_smem_ptr = nullptr;
	if (dyn) ::operator delete[](dyn, std::align_val_t(kAlign));

	std::string msg;
	{
		std::lock_guard<std::mutex> lk(b.err_mu);
		msg = b.error;
	}
	if (msg.empty()) msg = dyn_overrun;
	// Guard bytes of every live allocation: an overrun of any buffer that the
	// kernel could reach shows up here.
	{
		std::lock_guard<std::mutex> lk(mem_mu);
		for (auto& [base, a] : allocs()) {
			std::string s = check_guards(a);
			if (s.empty()) continue;
			for (const PtrParam& pp : launch_ptrs)
				if (pp.p >= a.base && pp.p <= a.base + a.size) {
					s += "; the launch passed it as " + param_label(k, pp.index);
					break;
				}
			msg += (msg.empty() ? "" : "; ") + s;
		}
	}
	if (msg.empty()) return LaunchOK;
	*err = dup(msg);
	return LaunchFault;
}

// ---------------------------------------------------------------------------
// Synchronising built-ins.

namespace {

// ptx_source_lane is PTX shfl.sync's source-lane computation (PTX ISA,
// "shfl.sync"), with the c operand that CUDA's __shfl*_sync build from width
// (sm_30_intrinsics.hpp): ((32-width)<<8)|0x1f, and (32-width)<<8 for up.
int ptx_source_lane(int mode, int lane, unsigned b, int width) {
	unsigned c = unsigned(32 - width) << 8;
	if (mode != ShflUp) c |= 0x1f;
	int bval = int(b & 31), cval = int(c & 31), segmask = int((c >> 8) & 31);
	int max_lane = (lane & segmask) | (cval & ~segmask);
	int min_lane = lane & segmask;
	int j;
	bool ok;
	switch (mode) {
	case ShflUp:
		j = lane - bval;
		ok = j >= max_lane;
		break;
	case ShflDown:
		j = lane + bval;
		ok = j <= max_lane;
		break;
	case ShflXor:
		j = lane ^ bval;
		ok = j <= max_lane;
		break;
	default:
		j = min_lane | (bval & ~segmask);
		ok = j <= max_lane;
	}
	return ok ? j : lane;
}

struct WarpView {
	WarpSlot* row;
	unsigned participants;
};

// exchange is one warp collective: publish (payload, pred, mask), wait for
// every non-exited lane of the warp, then check the masks.
WarpView exchange(ThreadCtx& c, const Site* s, unsigned mask, uint64_t payload, int pred) {
	Block& b = block();
	if (!((mask >> c.lane) & 1u))
		fail(strf("%s: the mask 0x%08x does not include the calling lane %u", site_str(s).c_str(), mask, c.lane));
	uint64_t tag = (b.epoch << 32) | c.wseq;
	WarpSlot* row = b.wslots[c.warp][c.wseq & 1];
	row[c.lane] = WarpSlot{payload, tag, mask, pred};
	arrive(b, b.wbar[c.warp], c, s, false);
	unsigned parts = 0;
	for (unsigned l = 0; l < 32; l++) {
		if (row[l].tag != tag) continue;
		parts |= 1u << l;
		if (row[l].mask != mask)
			fail(strf("%s: lanes of warp %u pass different masks (lane %u: 0x%08x, lane %u: 0x%08x); the simulator "
			          "supports only one mask naming every live lane",
			          site_str(s).c_str(), c.warp, c.lane, mask, l, row[l].mask));
	}
	c.wseq++;
	return WarpView{row, parts};
}

}  // namespace

void syncthreads(const Site* s) {
	ThreadCtx& c = enter();
	arrive(block(), block().bar, c, s, true);
	c.bseq++;
}

int syncthreads_reduce(const Site* s, int pred, int op) {
	ThreadCtx& c = enter();
	Block& b = block();
	uint64_t tag = (b.epoch << 32) | c.bseq;
	CountSlot* row = b.cslots[c.bseq & 1];
	row[c.tid] = CountSlot{tag, pred};
	arrive(b, b.bar, c, s, true);
	int total = 0, count = 0;
	for (unsigned t = 0; t < b.n; t++)
		if (row[t].tag == tag) {
			total++;
			count += row[t].pred != 0;
		}
	c.bseq++;
	switch (op) {
	case ReduceCount:
		return count;
	case ReduceAnd:
		return count == total;
	default:
		return count > 0;
	}
}

uint64_t shfl_raw(const Site* s, int mode, unsigned mask, uint64_t v, unsigned b, int width) {
	ThreadCtx& c = enter();
	if (width < 1 || width > 32 || (width & (width - 1)) != 0)
		fail(strf("%s: width %d is not a power of two in 1..32", site_str(s).c_str(), width));
	WarpView w = exchange(c, s, mask, v, 0);
	int j = ptx_source_lane(mode, int(c.lane), b, width);
	if (!((w.participants >> j) & 1u))
		fail(strf("%s: lane %u reads lane %d of warp %u, which did not take part (it returned or lies outside the "
		          "block); a GPU returns an undefined value",
		          site_str(s).c_str(), c.lane, j, c.warp));
	return w.row[j].payload;
}

unsigned vote(const Site* s, unsigned mask, int pred, int op) {
	ThreadCtx& c = enter();
	WarpView w = exchange(c, s, mask, 0, pred);
	unsigned ballot = 0;
	for (unsigned l = 0; l < 32; l++)
		if (((w.participants >> l) & 1u) && w.row[l].pred) ballot |= 1u << l;
	switch (op) {
	case VoteBallot:
		return ballot;
	case VoteAny:
		return ballot != 0;
	default:
		return ballot == w.participants;  // against the lanes that took part, not the mask
	}
}

void syncwarp(const Site* s, unsigned mask) {
	ThreadCtx& c = enter();
	exchange(c, s, mask, 0, 0);
}

void* dynamic_smem() { return dyn_smem_ptr; }

}  // namespace cudasim

// ---------------------------------------------------------------------------
// C ABI.

using namespace cudasim;
using namespace cudasim::detail;

extern "C" {

int cudasim_launch(uint64_t ctx, int k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, size_t smem, const uint64_t* slots, int nslots, char** err) {
	*err = nullptr;
	if (k < 0 || k >= int(kernels().size())) {
		*err = dup("no such kernel");
		return LaunchInvalid;
	}
	Kernel* kern = kernels()[k];
	if (nslots != int(kern->params.size())) {
		*err = dup(strf("the kernel takes %zu parameters, the launch passed %d", kern->params.size(), nslots));
		return LaunchInvalid;
	}
	std::vector<void*> params(std::size_t(nslots) + 1);
	for (int i = 0; i < nslots; i++) params[i] = const_cast<uint64_t*>(&slots[i]);
	LaunchConfig cfg{{gx, gy, gz}, {bx, by, bz}, smem, ctx};
	std::lock_guard<std::mutex> lk(launch_mu);
	launch_ptrs.clear();
	return kern->thunk(kern, cfg, params.data(), err);
}

int cudasim_threaded(int k) {
	if (k < 0 || k >= int(kernels().size())) return 0;
	return kernels()[k]->threaded.load() ? 1 : 0;
}

}  // extern "C"
