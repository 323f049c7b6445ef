/* cudasim_abi.h: the C interface between the simulator runtime (registry.cc,
 * memory.cc, exec.cc) and its Go binding (sim.go). Device addresses travel
 * as uintptr_t. Every function that can fail returns NULL on success or a malloc'd message that
 * the caller frees; messages never depend on thread-local state, because a
 * goroutine may move between OS threads between two cgo calls. */
#ifndef CUDASIM_ABI_H
#define CUDASIM_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Contexts own allocations; a pointer of one context is invalid in another. */
uint64_t cudasim_ctx_new(void);
/* cudasim_ctx_close frees every allocation of ctx; it reports (but still
 * frees) allocations whose guard bytes were overwritten. */
char* cudasim_ctx_close(uint64_t ctx);

char* cudasim_malloc(uint64_t ctx, size_t bytes, uintptr_t* out);
char* cudasim_free(uint64_t ctx, uintptr_t p);
char* cudasim_htod(uint64_t ctx, uintptr_t dst, const void* src, size_t bytes);
char* cudasim_dtoh(uint64_t ctx, void* dst, uintptr_t src, size_t bytes);
char* cudasim_dtod(uint64_t ctx, uintptr_t dst, uintptr_t src, size_t bytes);
char* cudasim_memset(uint64_t ctx, uintptr_t dst, int value, size_t bytes);

/* Kernel registry. */
int cudasim_kernel_count(void);
const char* cudasim_kernel_name(int k);
int cudasim_kernel_find(const char* name); /* -1 if absent */
int cudasim_kernel_nparams(int k);
/* cudasim_kernel_param describes parameter i of kernel k: kind (see
 * ParamKind in cuda_sim_runtime.h), size in bytes, its C type and its name
 * ("" if unknown). The strings live as long as the process. */
void cudasim_kernel_param(int k, int i, int* kind, int* size, const char** type, const char** name);

/* cudasim_launch runs kernel k on a grid of blocks. slots holds nslots 8-byte
 * parameter values (little-endian, as cuLaunchKernel reads them through its
 * array of pointers). It returns 0 on success, 1 when the launch was rejected
 * before anything ran, and 2 when the kernel failed while running; *err then
 * holds a malloc'd message. */
int cudasim_launch(uint64_t ctx, int k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, size_t smem, const uint64_t* slots, int nslots, char** err);

/* cudasim_sgemm is cublasSgemm on device memory: column-major
 * C = alpha*op(A)*op(B) + beta*C. */
char* cudasim_sgemm(uint64_t ctx, int transa, int transb, int m, int n, int k, float alpha, uintptr_t a,
                    int lda, uintptr_t b, int ldb, float beta, uintptr_t c, int ldc);

/* cudasim_matmul_args are cublasLtMatmul's arguments, as Driver.Matmul
 * takes them (cuda.Matmul): types 0 = float32, 1 = bfloat16; epilogue 0 =
 * DEFAULT, 1 = BIAS, 2 = BGRADB; tf32 selects CUBLAS_COMPUTE_32F_FAST_TF32. */
typedef struct {
	int transa, transb, m, n, k;
	uintptr_t a, b, c, d, bias;
	int lda, ldb, ldc, ldd;
	int ab, cd, bias_type, tf32, epilogue;
	float alpha, beta;
} cudasim_matmul_args;

/* cudasim_matmul is cublasLtMatmul on device memory: column-major
 * D = alpha*op(A)*op(B) + beta*C, then the epilogue (matmul.cc). */
char* cudasim_matmul(uint64_t ctx, const cudasim_matmul_args* args);

/* Sources the compiled kernels came from: "group path sha256\n" lines, in
 * registration order; the caller frees the string. */
char* cudasim_sources(void);

/* Settings; each overrides the matching environment variable. */
void cudasim_set_force_threads(int on);       /* CUDASIM_THREADS=1 */
void cudasim_set_timeout_ms(int64_t ms);      /* CUDASIM_TIMEOUT (seconds) */
void cudasim_set_strict(int on);              /* CUDASIM_STRICT=0 turns it off */
int cudasim_asan(void);                       /* 1 if built with AddressSanitizer */
/* cudasim_threaded reports whether kernel k is known to need one OS thread
 * per CUDA thread (it reached a synchronising built-in). */
int cudasim_threaded(int k);

#ifdef __cplusplus
}
#endif

#endif
