package cuda

import (
	"fmt"
	"math"
)

// DataType is the element type of a matrix or bias vector in a [Matmul]:
// cudaDataType_t's CUDA_R_32F or CUDA_R_16BF.
type DataType uint8

const (
	// Float32 is IEEE binary32 (CUDA_R_32F), 4 bytes.
	Float32 DataType = iota
	// BFloat16 is bfloat16 (CUDA_R_16BF), 2 bytes: the upper half of a
	// binary32, rounded to nearest even when stored.
	BFloat16
)

// Size returns the element size in bytes.
func (t DataType) Size() int {
	if t == BFloat16 {
		return 2
	}
	return 4
}

// String returns "f32" or "bf16".
func (t DataType) String() string {
	if t == BFloat16 {
		return "bf16"
	}
	return "f32"
}

// ComputeType is a cuBLASLt compute type (cublasComputeType_t).
type ComputeType uint8

const (
	// Compute32F accumulates in float32 and reads the inputs at their own
	// precision (CUBLAS_COMPUTE_32F).
	Compute32F ComputeType = iota
	// Compute32FFastTF32 accumulates in float32 and rounds float32 inputs to
	// TF32 (10-bit mantissa) for the tensor cores
	// (CUBLAS_COMPUTE_32F_FAST_TF32).
	Compute32FFastTF32
)

// Epilogue is the post-processing a [Matmul] fuses (cublasLtEpilogue_t).
type Epilogue uint8

const (
	// EpilogueDefault adds nothing (CUBLASLT_EPILOGUE_DEFAULT).
	EpilogueDefault Epilogue = iota
	// EpilogueBias adds Bias[i] to every element of row i of D (a vector of
	// M elements broadcast over the N columns; CUBLASLT_EPILOGUE_BIAS),
	// after alpha·op(A)·op(B) + beta·C and before D is rounded to its type.
	EpilogueBias
	// EpilogueBGradB also writes (overwrites, no accumulation) the bias
	// gradient of B: Bias[j] = Σ_p op(B)[p, j], the sum of column j of
	// op(B) over the GEMM's K dimension, N elements
	// (CUBLASLT_EPILOGUE_BGRADB).
	EpilogueBGradB
)

// String returns the epilogue's cuBLASLt name without its prefix.
func (e Epilogue) String() string {
	switch e {
	case EpilogueBias:
		return "BIAS"
	case EpilogueBGradB:
		return "BGRADB"
	}
	return "DEFAULT"
}

// Matmul is one cuBLASLt matrix product (cublasLtMatmul), column-major like
// cuBLAS:
//
//	D = alpha·op(A)·op(B) + beta·C  (then the epilogue)
//
// op(A) is M×K, op(B) is K×N, C and D are M×N, with leading dimensions LDA,
// LDB, LDC and LDD in elements. A and B have type AB, C and D type CD; the
// product accumulates in float32 (Compute), and D is rounded to its type
// (round to nearest even for bfloat16) once, at the end. C may equal D
// (in-place, as cuBLASLt allows when their layouts match); C is not read
// when Beta is 0. Bias is the epilogue's vector (packed, of type BiasType,
// which must be CD: cuBLASLt's default for these types in CUDA 11 to 13):
// read by EpilogueBias (M elements), written by EpilogueBGradB (N
// elements).
type Matmul struct {
	TransA, TransB     bool
	M, N, K            int
	A, B, C, D         DevicePtr
	LDA, LDB, LDC, LDD int
	AB, CD             DataType
	Compute            ComputeType
	Epilogue           Epilogue
	Bias               DevicePtr
	BiasType           DataType
	Alpha, Beta        float32
}

// MatmulKey is the part of a [Matmul] a driver caches its descriptors, layouts and
// algorithm by: everything but the pointers and the scalars.
type MatmulKey struct {
	TransA, TransB     bool
	M, N, K            int
	LDA, LDB, LDC, LDD int
	AB, CD             DataType
	Compute            ComputeType
	Epilogue           Epilogue
	BiasType           DataType
	InPlace            bool
	// Align is the alignment in bytes of A, B, C and D (the largest power
	// of two up to 256 dividing the address): cuBLASLt picks algorithms
	// for 256-byte aligned matrices unless told less, and views into the
	// parameter arena or a row chunk of an activation are less aligned.
	Align [4]uint16
}

// Key returns m's cache key.
func (m *Matmul) Key() MatmulKey {
	return MatmulKey{TransA: m.TransA, TransB: m.TransB, M: m.M, N: m.N, K: m.K,
		LDA: m.LDA, LDB: m.LDB, LDC: m.LDC, LDD: m.LDD, AB: m.AB, CD: m.CD,
		Compute: m.Compute, Epilogue: m.Epilogue, BiasType: m.BiasType, InPlace: m.C == m.D,
		Align: [4]uint16{alignment(m.A), alignment(m.B), alignment(m.C), alignment(m.D)}}
}

// alignment returns the largest power of two up to 256 that divides p
// (256 for the null pointer).
func alignment(p DevicePtr) uint16 {
	if p == 0 {
		return 256
	}
	return uint16(min(256, p&-p))
}

// Rows returns the rows and columns of A and B as stored (before op).
func (m *Matmul) Rows() (rowsA, colsA, rowsB, colsB int) {
	rowsA, colsA, rowsB, colsB = m.M, m.K, m.K, m.N
	if m.TransA {
		rowsA, colsA = m.K, m.M
	}
	if m.TransB {
		rowsB, colsB = m.N, m.K
	}
	return
}

// Check returns an error naming the problem when m's sizes, leading
// dimensions, types or pointers are ones cuBLASLt would reject: negative
// or above 2³¹ − 1 sizes, a leading dimension below the rows, a null
// matrix that is read or written, a bias epilogue without a bias, or
// Compute32FFastTF32 with bfloat16 inputs.
func (m *Matmul) Check() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("m=%d n=%d k=%d lda=%d ldb=%d ldc=%d ldd=%d: %s", m.M, m.N, m.K, m.LDA, m.LDB, m.LDC, m.LDD, fmt.Sprintf(format, args...))
	}
	for _, v := range []int{m.M, m.N, m.K, m.LDA, m.LDB, m.LDC, m.LDD} {
		if v < 0 || v > math.MaxInt32 {
			return invalid("size %d out of range", v)
		}
	}
	rowsA, _, rowsB, _ := m.Rows()
	switch {
	case m.AB > BFloat16 || m.CD > BFloat16 || m.BiasType > BFloat16:
		return invalid("unknown data type")
	case m.Compute == Compute32FFastTF32 && m.AB != Float32:
		return invalid("TF32 compute needs float32 inputs")
	case m.LDA < max(1, rowsA):
		return invalid("lda < %d", max(1, rowsA))
	case m.LDB < max(1, rowsB):
		return invalid("ldb < %d", max(1, rowsB))
	case m.LDC < max(1, m.M):
		return invalid("ldc < %d", max(1, m.M))
	case m.LDD < max(1, m.M):
		return invalid("ldd < %d", max(1, m.M))
	case m.M == 0 || m.N == 0:
		return nil
	case m.D == 0 || (m.Beta != 0 && m.C == 0) || (m.K > 0 && (m.A == 0 || m.B == 0)):
		return invalid("null matrix pointer")
	case m.Epilogue != EpilogueDefault && m.Bias == 0:
		return invalid("epilogue %s without a bias vector", m.Epilogue)
	case m.Epilogue > EpilogueBGradB:
		return invalid("unknown epilogue %d", m.Epilogue)
	case m.Epilogue != EpilogueDefault && m.BiasType != m.CD:
		return invalid("%s bias of type %s with D of type %s (cuBLASLt's bias has D's type)", m.Epilogue, m.BiasType, m.CD)
	}
	return nil
}

// DeviceInfo describes the device a driver runs on.
type DeviceInfo struct {
	// Name is the device's name ("NVIDIA H100 80GB HBM3", "cudasim").
	Name string
	// Major and Minor are its compute capability (8 and 0 for sm_80).
	Major, Minor int
}

// String returns the name and "sm_XY".
func (i DeviceInfo) String() string { return fmt.Sprintf("%s (sm_%d%d)", i.Name, i.Major, i.Minor) }

// AtLeast reports whether the compute capability is major.minor or newer.
func (i DeviceInfo) AtLeast(major, minor int) bool {
	return i.Major > major || (i.Major == major && i.Minor >= minor)
}
