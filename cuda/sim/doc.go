// Package sim is a CUDA simulator: it runs the project's real CUDA kernel
// sources (kernels/src/*.cu, device code only) on CPU threads inside go test,
// behind the same [cuda.Driver] interface as a GPU, so that the CUDA backend
// (kernels/gpu) and every kernel can be tested without a GPU. It is part of
// the default build (cgo and g++ 11 or later; no build tags). The design and
// its sources are in docs/CUDASIM.md.
//
// # How it works
//
// kernels/src/compat.cuh, the first header every kernel includes, pulls in
// cuda_sim.h when CUDASIM is defined. That header maps CUDA's qualifiers to
// C++ (__global__ and __device__ vanish, __shared__ becomes static), gives
// threadIdx, blockIdx, blockDim and gridDim as thread_local variables, and
// implements the built-ins: vector types with CUDA's alignments, an allowlist
// of math functions and intrinsics, atomics, __syncthreads, warp shuffles and
// votes, __syncwarp and shared memory. kernels_sim.cc, written by
// go generate ./cuda/sim/... (internal/gen), #includes every .cu file and
// registers each extern "C" __global__ kernel by name, with its parameter
// names and __launch_bounds__; the generator also rejects sources that leave
// the CUDA subset (docs/CUDASIM.md section 7) where a pattern shows it.
//
// A launch copies its arguments out of 8-byte slots as cuLaunchKernel does,
// checks every pointer argument, then runs the blocks one after another in
// x, y, z order under a process-wide launch mutex. Each block first runs
// thread 0 alone on the launching thread. If it returns without reaching a
// synchronising built-in (__syncthreads*, a shuffle, a vote, __syncwarp), the
// other threads run one after another on the same thread: elementwise kernels
// cost a few tens of nanoseconds per CUDA thread. If a thread reaches one,
// the block escalates: pooled OS threads (one per CUDA thread, small stacks,
// all signals blocked) start the remaining threads, and the kernel is
// remembered as threaded for its later blocks and launches. A block-wide
// barrier then costs about 0.2 to 2 ms on two cores, so tests of
// barrier-heavy kernels should keep to a few dozen blocks.
//
// # What is checked
//
//   - __syncthreads waits for the threads that have not exited, as PTX
//     specifies, and every thread must reach the same call: two call sites in
//     one phase fail the launch naming both file:line. In strict mode (the
//     default; CUDASIM_STRICT=0 turns it off) a barrier that some thread of
//     the block has already returned before is rejected as well, since such
//     early returns are legal but fragile (docs/CUDASIM.md section 7 rule 3).
//   - Shuffles compute their source lane with PTX shfl.sync's formula, widths
//     and 5-bit operands included. Every lane must name itself in its mask,
//     all lanes must pass the same mask and be at the same call, and reading
//     a lane that returned or lies outside the block fails. Votes count only
//     the lanes that took part; __all_sync compares against them, not the
//     mask.
//   - Shared memory starts as 0xff bytes (a float NaN, -1 as an integer) in
//     every block, so a missing barrier or an unwritten element shows up as
//     NaN. Dynamic shared memory (CUDA_DYN_SMEM) is exactly the launch's size
//     with guard bytes after it.
//   - Device memory from Malloc is exact-size, 256-byte aligned, filled with
//     0xff bytes, and surrounded by guard bytes that are checked after every
//     launch and at Free and Close: an out-of-bounds write is reported with
//     the allocation and the kernel parameter that pointed into it.
//   - Pointer arguments must be null or inside a live allocation of the same
//     Driver, aligned for their type: host pointers, freed buffers and
//     buffers of other Drivers are rejected, naming the kernel and parameter.
//     Argument count and types are checked against the kernel's signature.
//   - Launch limits: at most 1024 threads per block (or the kernel's
//     __launch_bounds__), CUDA's grid limits, and 48 KB of dynamic shared
//     memory. The 48 KB static shared memory limit is checked by ptxas in
//     the nvcc test (TestNVCCAcceptsKernels compiles every kernel source with
//     nvcc -arch=sm_80 -cubin when nvcc is installed).
//   - A watchdog fails a launch that makes no progress for CUDASIM_TIMEOUT
//     seconds (30 by default) and reports who waits where; a thread stuck
//     outside the built-ins (an endless loop) aborts the process with the
//     same report.
//
// printf in a kernel prints (threads interleave), and a failing assert
// aborts the test binary, as a device-side assert kills a GPU context.
//
// A kernel that breaks these rules fails with an error wrapping
// [ErrKernelFault], and the Driver stays faulted, as a GPU context does
// after a fault. Launches rejected before running wrap [ErrInvalidLaunch].
//
// Between BeginCapture and EndCapture the Driver records launches (with a
// copy of their packed arguments and the range open at the time), memsets,
// device copies, Sgemms and Matmuls instead of running them; the [Graph] it returns
// replays them in order, through the same code as eager launches, so a
// replay computes the same bits. Host copies, Synchronize, events and Free
// fail while capturing, with [ErrCapture], as they would break a CUDA
// stream capture.
//
// scripts/sim-asan.sh runs these tests under AddressSanitizer and
// UndefinedBehaviorSanitizer. There device and dynamic shared memory have no
// guard bytes (ASan's redzones report the exact access instead), static
// shared arrays stay plain statics so that ASan and UBSan's bounds check see
// them (and are not poisoned), and UBSan reports misaligned vector loads.
// Note that go test -asan alone does not instrument C++; the script sets
// CGO_CXXFLAGS.
//
// # Environment
//
//	CUDASIM_THREADS=1   run every block with one OS thread per CUDA thread
//	                    (use under ThreadSanitizer, so that races in
//	                    sync-free kernels become visible)
//	CUDASIM_TIMEOUT=s   watchdog timeout in seconds (default 30)
//	CUDASIM_STRICT=0    allow barriers after some threads returned
//
// # What is not simulated
//
// Bit-exact agreement with a GPU is not a goal: approximate intrinsics
// (__expf, __fdividef, rsqrtf) map to libm and plain division, FMA
// contraction and the summation order of atomics differ, so tests compare
// with tolerances. Nothing about performance is modelled (coalescing, bank
// conflicts, occupancy, register spills, tensor cores), nor register-count
// launch failures. Blocks never run concurrently and are separated by a
// happens-before edge, so races, deadlocks and fence bugs between blocks
// cannot show; x86 memory ordering and the simulator's strong barriers hide
// missing __threadfence or volatile. Warps do not run in lock-step: code that
// relies on implicit warp synchrony races here (as it may on Volta and
// later), while a shuffle orders memory here but not on a GPU. Warp
// collectives must name every live lane in one mask: partial or disjoint
// masks, __activemask and __match_*_sync are not supported, nor cooperative
// groups, inline PTX, textures, clocks or dynamic parallelism. With g++,
// static __shared__ arrays of templated kernels are not poisoned (GCC ignores
// section attributes in templates), and out-of-bounds reads are seen only
// under ASan. Compiler differences (nvcc bugs, __restrict__-based reordering,
// undefined behaviour one compiler tolerates) are out of reach; the nvcc test
// only proves that the sources compile for a GPU.
package sim
