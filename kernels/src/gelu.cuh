// gelu.cuh: the GELU activation and its derivative (Hendrycks & Gimpel
// 2016), erf and tanh forms, for every kernel that applies GELU (gelu.cu,
// layernorm.cu). One copy, so that all of them round alike.
//
// The erf form is evaluated as x·Φ(x) with Φ(x) = erfc(−x/√2)/2 rather than
// PyTorch's 0.5·x·(1 + erf(x/√2)): 1 + erf cancels for x < −2 (relative
// error 1e-3 at x = −5 in float32), erfc does not, so the result keeps
// float32 relative precision over the whole range. The tanh form is
// evaluated as x·σ(2u), which does not cancel either (the CPU backend uses
// the same identities, kernels/cpu/gelu.go).
#pragma once
#include "compat.cuh"

#define GELU_SQRT1_2 0.70710678118654752440f      // 1/√2
#define GELU_INV_SQRT_2PI 0.39894228040143267794f // 1/√(2π)
#define GELU_SQRT_2_PI 0.79788456080286535588f    // √(2/π)
#define GELU_TANH_A 0.044715f

// gelu_act returns GELU(x) for approx 0 (erf) or 1 (tanh). In the tanh
// form the exponent is clamped to 80 so that e^(−2u) stays finite
// (σ = 1/(1 + e^80) ≈ 1.8e-35 is still a normal float).
static __device__ __forceinline__ float gelu_act(float x, int approx) {
	if (approx == 1) {
		const float u2 = 2.0f * GELU_SQRT_2_PI * (x + GELU_TANH_A * x * x * x);
		return x / (1.0f + expf(fminf(-u2, 80.0f)));
	}
	return 0.5f * x * erfcf(-x * GELU_SQRT1_2);
}

// gelu_grad returns GELU'(x): Φ(x) + x·φ(x) for erf; for tanh, with
// s = σ(2u) and e = e^(−2u), σ' = s·(1 − s) = s·(e·s) (no cancellation) and
// GELU' = s + x·s·(e·s)·2u'.
static __device__ __forceinline__ float gelu_grad(float x, int approx) {
	if (approx == 1) {
		const float u2 = 2.0f * GELU_SQRT_2_PI * (x + GELU_TANH_A * x * x * x);
		const float e = expf(fminf(-u2, 80.0f));
		const float s = 1.0f / (1.0f + e);
		const float du2 = 2.0f * GELU_SQRT_2_PI * (1.0f + 3.0f * GELU_TANH_A * x * x);
		return s + x * s * (e * s) * du2;
	}
	return 0.5f * erfcf(-x * GELU_SQRT1_2) + x * GELU_INV_SQRT_2PI * expf(-0.5f * x * x);
}
