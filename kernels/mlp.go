package kernels

// MLPOps are the fused elementwise passes of the ConvNeXt V2 block's MLP
// (issue 12 item 3) between fc1 and fc2, for a hidden tensor [N, HW, C]
// (NHWC with the spatial axes flattened, C = 4·dim):
//
//	a = x·W1ᵀ (fc1 without its bias)  h = GELU_erf(a + b1)  y = GRN(h)
//
// A backend that implements them lets a layer replace the bias add, the
// GELU, the GRN's sum-of-squares pass and, backward, the GRN apply
// backward, the GELU backward and the fc1 bias gradient by fewer passes
// over the hidden tensor. The results equal those of the unfused ops
// (GELU, [NormOps.GRN], [NormOps.GRNBackward], GELUBackward, the bias
// column sum) up to float rounding; every sum runs in a fixed order, so
// they are deterministic. It is optional: layers type-assert a Backend.
type MLPOps interface {
	// BiasGELUSumSq writes h = GELU_erf(a + bias) [N, HW, C] (a [N, HW,
	// C], bias [C], or the zero Tensor when fc1's product already added
	// it, as in BF16 precision, where autocast adds the bias before the
	// product's one rounding to bf16) and sumSq [N, C] = Σ_hw h² of the stored h (after
	// its bf16 rounding where h is bf16; float32 storage), in one pass.
	// h must not alias a (the backward reads a).
	BiasGELUSumSq(h, sumSq, a, bias Tensor, s GRNShape) error
	// GRNApply is [NormOps.GRN] given the sums of squares of x from
	// BiasGELUSumSq: gnorm [N, C] = sqrt(sumSq), then y = gamma·(x·Nx) +
	// beta + x with Nx = gnorm/(mean_c gnorm + Eps), one pass over x.
	GRNApply(y, gnorm, x, sumSq, gamma, beta Tensor, s GRNShape) error
	// GRNGELUBackward is GRNBackward (dy, h, gnorm, gamma → dh, dgamma,
	// dbeta accumulated) followed by dA = dh·GELU_erf'(a + bias), written
	// to da [N, HW, C] (dh is not stored), and dbias [C] += Σ_{n,hw} dA
	// (summed before dA's bf16 rounding). da must not alias dy, h or a.
	GRNGELUBackward(da, dbias, dgamma, dbeta, dy, h, a, bias, gnorm, gamma Tensor, s GRNShape) error
}
