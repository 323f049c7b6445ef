// compat.cuh: the first header every kernel source and shared header in
// kernels/src includes (the other *.cuh files hold shared device helpers).
//
// Under nvcc it brings in CUDA's 16-bit float types and defines
// CUDA_DYN_SMEM; under the CPU simulator (CUDASIM, the default cgo build of
// cuda/sim) it includes the simulator's header, which provides the same
// names. Kernels keep to the CUDA subset of docs/CUDASIM.md
// section 7 so that both builds agree; cuda/sim's generator rejects the
// constructs it can detect (other includes, __CUDA_ARCH__, inline asm, ...).
#pragma once

#if defined(CUDASIM)
#include "../../cuda/sim/cuda_sim.h"
#elif defined(__CUDACC__)
#include <assert.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdio.h>
// CUDA_DYN_SMEM(T, name) declares name as a T* to the launch's dynamic
// shared memory; use it inside the kernel body. One untyped extern array
// serves every kernel, so kernels of one file may use different types.
#define CUDA_DYN_SMEM(T, name) \
	extern __shared__ __align__(16) unsigned char compat_dyn_smem[]; \
	T* const name = reinterpret_cast<T*>(compat_dyn_smem)
#else
#error "compat.cuh: compile kernels with nvcc, or with -DCUDASIM through cuda/sim"
#endif
