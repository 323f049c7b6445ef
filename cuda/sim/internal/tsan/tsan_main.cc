// tsan_main.cc: a C++-only driver that runs the simulator's race-free
// self-test kernels under ThreadSanitizer, which cannot share a process with
// Go's race runtime (docs/CUDASIM.md section 4). TSan is the oracle: any report is
// a data race in the simulator runtime or a kernel. Run from the module root:
//
//	g++ -std=c++20 -DCUDASIM -fsanitize=thread -O1 -g -Icuda/sim -Ikernels/src \
//	    cuda/sim/registry.cc cuda/sim/memory.cc cuda/sim/exec.cc \
//	    cuda/sim/internal/simtest/kernels_simtest.cc \
//	    cuda/sim/internal/tsan/tsan_main.cc -o /tmp/cudasim-tsan && /tmp/cudasim-tsan
//
// "/tmp/cudasim-tsan race" runs a planted missing __syncthreads instead, which
// TSan must report (exit status 66).
//
// It is not part of any Go package (the directory has no .go files).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cudasim_abi.h"

static uint64_t ctx;

static uintptr_t dalloc(size_t bytes) {
	uintptr_t p;
	if (char* e = cudasim_malloc(ctx, bytes, &p)) {
		std::fprintf(stderr, "malloc: %s\n", e);
		std::exit(1);
	}
	if (char* e = cudasim_memset(ctx, p, 0, bytes)) {
		std::fprintf(stderr, "memset: %s\n", e);
		std::exit(1);
	}
	return p;
}

static void run(const char* name, unsigned grid, unsigned block, size_t smem, std::vector<uint64_t> args) {
	int k = cudasim_kernel_find(name);
	if (k < 0) {
		std::fprintf(stderr, "no kernel %s\n", name);
		std::exit(1);
	}
	char* err = nullptr;
	if (cudasim_launch(ctx, k, grid, 1, 1, block, 1, 1, smem, args.data(), int(args.size()), &err) != 0) {
		std::fprintf(stderr, "%s: %s\n", name, err);
		std::exit(1);
	}
}

int main(int argc, char** argv) {
	ctx = cudasim_ctx_new();
	if (argc > 1 && std::strcmp(argv[1], "race") == 0) {
		// A planted missing __syncthreads: TSan must report a data race.
		cudasim_set_force_threads(1);
		uintptr_t a = dalloc(256 * 4), b = dalloc(256 * 4);
		run("sim_missing_sync", 1, 64, 0, {b, a});
		return 0;
	}
	cudasim_set_strict(0);
	for (int forced = 0; forced < 2; forced++) {
		cudasim_set_force_threads(forced);
		uintptr_t a = dalloc(16384 * 4), b = dalloc(4096 * 4), c = dalloc(4096 * 8), d = dalloc(4096 * 8);
		uintptr_t e = dalloc(64), f = dalloc(64), g = dalloc(64), h = dalloc(64);
		run("sim_block_sum", 4, 128, 0, {b, a});
		run("sim_block_reverse", 4, 64, 0, {b, a});
		run("sim_shfl_table", 1, 64, 0, {a, 8});
		run("sim_shfl_types", 1, 64, 0, {c, d, a, b});
		run("sim_vote", 1, 48, 0, {a, 3, 1});
		run("sim_sync_reduce", 1, 40, 0, {a, 3});
		run("sim_warp_reduce_smem", 2, 64, 0, {b, a});
		run("sim_exit_outside", 1, 64, 0, {a, 5, 40, 3});
		run("sim_dyn_reverse", 2, 32, 400, {b, a, 100});
		run("sim_dyn_double", 1, 48, 48 * 8, {c});
		run("sim_atomics", 3, 64, 0, {e, f, g, h, c, a, 10});
		run("sim_histogram", 4, 64, 0, {b, dalloc(256 * 4), 256, 7});  // zeroed input
		run("sim_axpy", 4, 64, 0, {b, a, 0x3f000000, 256});
		for (uintptr_t p : {a, b, c, d, e, f, g, h}) cudasim_free(ctx, p);
	}
	std::printf("cudasim-tsan: all kernels ran\n");
	return 0;
}
