// compat.cuh: the only header a kernel source in kernels/src includes.
//
// Under nvcc it brings in CUDA's 16-bit float types and defines
// CUDA_DYN_SMEM; under the CPU simulator (CUDASIM, the default cgo build of
// cuda/sim) it includes the simulator's header, which provides the same
// names. Kernels keep to the CUDA subset of /work/shared/design/CUDASIM.md
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
// CUDA_DYN_SMEM(T, name) declares the launch's dynamic shared memory as an
// array of T called name; use it inside the kernel body.
#define CUDA_DYN_SMEM(T, name) extern __shared__ __align__(16) T name[]
#else
#error "compat.cuh: compile kernels with nvcc, or with -DCUDASIM through cuda/sim"
#endif
