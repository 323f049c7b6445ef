package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// SetPrecision selects the arithmetic of the matrix products and the
// dtype layers store activations in (kernels.PrecisionSetter): FP32 runs
// every GEMM as a cuBLAS SGEMM, TF32 and BF16 as cuBLASLt products (gemm)
// with TF32 tensor cores or bf16 inputs and float32 accumulation. TF32 and
// BF16 need compute capability 8.0 (sm_80, Ampere) or newer; on an older
// device the error names the device, its compute capability and the
// setting. An unknown precision is an error naming it. Every op of a
// ConvNeXt V1 or V2 training step has bf16 kernels (TestBF16TrainingStep);
// an op without them (fake quantization, FCMAE, BatchNorm) refuses bf16
// tensors with an error wrapping kernels.ErrDType, and the trainer picks
// fp32 for models and runs that need one (trainer.ModelPrecision).
func (b *Backend) SetPrecision(p kernels.Precision) error {
	if _, err := kernels.ParsePrecision(string(p)); err != nil {
		return fmt.Errorf("gpu backend: %w", err)
	}
	dev := b.drv.Device()
	if p != kernels.FP32 && !dev.AtLeast(8, 0) {
		return fmt.Errorf("gpu backend: [train] precision = %q needs a GPU of compute capability 8.0 (sm_80) or newer; %s is sm_%d%d (use precision = \"fp32\")",
			p, dev.Name, dev.Major, dev.Minor)
	}
	b.prec = p
	return nil
}

// Precision returns the precision in force: FP32 unless SetPrecision
// chose another.
func (b *Backend) Precision() kernels.Precision {
	if b.prec == "" {
		return kernels.FP32
	}
	return b.prec
}

// operand is one matrix or vector of a GEMM: a device address and the
// element type stored there.
type operand struct {
	p cuda.DevicePtr
	t cuda.DataType
}

// operandOf returns t's address and element type (the zero operand for the
// nil tensor).
func operandOf(t kernels.Tensor) operand {
	if t.Nil() {
		return operand{}
	}
	o := operand{p: ptr(t)}
	if t.Data.DType() == kernels.BFloat16 {
		o.t = cuda.BFloat16
	}
	return o
}

// at returns o advanced by off elements.
func (o operand) at(off int) operand {
	o.p += cuda.DevicePtr(off * o.t.Size())
	return o
}

// gemm computes C = op(A)·op(B) + beta·C on column-major matrices (cuBLAS
// semantics: op(A) m×k, op(B) k×n) for op, and with a bias (not the zero
// operand) the epilogue epi: cuda.EpilogueBias adds bias[i] to row i of C,
// cuda.EpilogueBGradB writes bias[j] = Σ_p op(B)[p, j]. In FP32 precision
// with float32 operands and no epilogue it is one SGEMM (Driver.Sgemm);
// otherwise one cuBLASLt product (Driver.Matmul): A and B of one type
// (float32, rounded to TF32 in TF32 precision, or bf16), float32
// accumulation, C float32 or bf16, rounded once. With SyncEach it waits and
// reports an error under op's name.
func (b *Backend) gemm(op string, transA, transB bool, m, n, k int, a operand, lda int, bm operand, ldb int, beta float32, c operand, ldc int, epi cuda.Epilogue, bias operand) error {
	prec := b.Precision()
	var err error
	switch {
	case a.t != bm.t:
		return fmt.Errorf("%s: matrix product of %s by %s: %w", op, a.t, bm.t, kernels.ErrDType)
	case prec == kernels.FP32 && a.t == cuda.Float32 && c.t == cuda.Float32 && epi == cuda.EpilogueDefault:
		b.recent.add("cublasSgemm", b.innermost())
		err = b.drv.Sgemm(transA, transB, m, n, k, 1, a.p, lda, bm.p, ldb, beta, c.p, ldc)
	default:
		mm := cuda.Matmul{TransA: transA, TransB: transB, M: m, N: n, K: k, A: a.p, B: bm.p, C: c.p, D: c.p,
			LDA: lda, LDB: ldb, LDC: ldc, LDD: ldc, AB: a.t, CD: c.t, Epilogue: epi, Bias: bias.p, BiasType: bias.t,
			Alpha: 1, Beta: beta}
		if prec == kernels.TF32 && a.t == cuda.Float32 {
			mm.Compute = cuda.Compute32FFastTF32
		}
		b.recent.add("cublasLtMatmul", b.innermost())
		err = b.drv.Matmul(mm)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, b.queuedError(err))
	}
	if b.SyncEach {
		if err := b.checked(b.drv.Synchronize()); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// fusedBias reports whether a forward product into y adds bias in its
// epilogue: in TF32 and BF16 precision, when the bias has y's type (the
// bias-type rule of cuBLASLt's BIAS epilogue). Otherwise the caller adds
// it with bias_add_f32 (FP32 precision keeps SGEMM and that kernel).
func (b *Backend) fusedBias(y, bias kernels.Tensor) bool {
	return !bias.Nil() && b.Precision() != kernels.FP32 && y.Data.DType() == bias.Data.DType()
}

// addBias adds bias [cols] to every row of y [rows, cols] after a product
// that did not fuse it: bias_add_f32 for float32 y; a bf16 y whose bias is
// float32 is an error wrapping kernels.ErrDType (pass the bias's bf16 copy,
// as autocast does, so the product's epilogue adds it).
func (b *Backend) addBias(op string, y, bias kernels.Tensor, rows, cols int) error {
	if bias.Nil() || b.fusedBias(y, bias) {
		return nil
	}
	if y.Data.DType() != kernels.Float32 || bias.Data.DType() != kernels.Float32 {
		return fmt.Errorf("%s: bias of type %v for an output of type %v (the fused epilogue needs the output's type): %w",
			op, bias.Data.DType(), y.Data.DType(), kernels.ErrDType)
	}
	return b.biasAdd(ptr(y), ptr(bias), rows, cols)
}

// forwardEpilogue returns the epilogue and bias operand of a forward
// product into y (see fusedBias).
func (b *Backend) forwardEpilogue(y, bias kernels.Tensor) (cuda.Epilogue, operand) {
	if b.fusedBias(y, bias) {
		return cuda.EpilogueBias, operandOf(bias)
	}
	return cuda.EpilogueDefault, operand{}
}
