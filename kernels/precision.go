package kernels

import "fmt"

// Precision is the arithmetic a backend trains in, the setting [train]
// precision of a run (docs/BF16.md).
type Precision string

const (
	// FP32 stores and multiplies everything in float32.
	FP32 Precision = "fp32"
	// TF32 stores everything in float32 and lets the matrix products round
	// their inputs to TF32 (10 fraction bits) on tensor cores, accumulating
	// in float32 (PyTorch's allow_tf32).
	TF32 Precision = "tf32"
	// BF16 is bfloat16 mixed precision, the semantics of
	// torch.autocast(dtype=torch.bfloat16): matrix products read bf16
	// inputs (activations and a bf16 copy of the weights) and accumulate in
	// float32; activations are stored in bf16 between ops; normalisation
	// statistics, softmax, the loss, parameters, gradients and optimizer
	// state stay float32. No loss scaling is needed (bf16 has float32's
	// exponent range).
	BF16 Precision = "bf16"
)

// ParsePrecision returns the Precision named s ("fp32", "tf32" or "bf16"),
// or an error naming s and the valid values.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(s); p {
	case FP32, TF32, BF16:
		return p, nil
	}
	return "", fmt.Errorf("unknown precision %q (want \"bf16\", \"tf32\" or \"fp32\")", s)
}

// PrecisionSetter is implemented by backends that can train in more than
// one [Precision]. Backends without it train in FP32 only.
type PrecisionSetter interface {
	// SetPrecision selects p for every op from now on; set it before
	// building a model, whose activations and bf16 weight copies are
	// allocated accordingly. A precision the backend or its device cannot
	// run (bf16 before sm_80, tf32 on the CPU) is an error naming the
	// device and the precision.
	SetPrecision(p Precision) error
	// Precision returns the precision in force (FP32 by default).
	Precision() Precision
}

// PrecisionOf returns be's precision: FP32 unless be is a
// [PrecisionSetter].
func PrecisionOf(be Memory) Precision {
	if ps, ok := be.(PrecisionSetter); ok {
		return ps.Precision()
	}
	return FP32
}

// ActivationDType returns the dtype activations are stored in on be:
// [BFloat16] in BF16 precision, else be's compute type.
func ActivationDType(be Memory) DType {
	if PrecisionOf(be) == BF16 {
		return BFloat16
	}
	return be.DType()
}
