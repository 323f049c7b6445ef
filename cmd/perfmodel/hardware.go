package main

// machine is the GPU the roofline is drawn for.
type machine struct {
	Name string
	BW   float64 // HBM bandwidth, bytes/s
	FP32 float64 // FP32 FMA (non-tensor) peak, FLOP/s
	TF32 float64 // TF32 tensor-core peak (dense), FLOP/s
	BF16 float64 // BF16 tensor-core peak (dense), FLOP/s
	SMs  int
	L2MB int
}

// h100 is the H100 SXM5 of docs/PERFORMANCE.md §4.1
// (glennklockwood.com/garden/processors/h100): HBM3 3.35 TB/s, FP32 FMA
// 66.9 TFLOP/s, TF32 494.7 TFLOP/s, BF16 989.4 TFLOP/s (dense, twice
// TF32), 132 SMs, 50 MB L2.
var h100 = machine{Name: "H100 SXM5", BW: 3.35e12, FP32: 66.9e12, TF32: 494.7e12, BF16: 989.4e12, SMs: 132, L2MB: 50}

// roofline returns the lower-bound time in seconds of one launch of cost c:
// max(bytes/BW, FLOPs/peak). SGEMMs use the TF32 peak when tf32 is set (the
// backend's NEXTCONV_CUDA_TF32=1), every other kernel the FP32 FMA peak.
func (m machine) roofline(c cost, tf32 bool) float64 {
	peak := m.FP32
	switch {
	case c.Peak > 0: // a cuBLASLt product: its own compute type decides
		peak = c.Peak
	case c.GEMM && tf32:
		peak = m.TF32
	}
	return max(float64(c.Bytes)/m.BW, float64(c.FLOPs)/peak)
}

// Host launch overhead per kernel (cudaLaunchKernel through the Go driver):
// the 3–5 µs range the issue gives. A step whose kernels are shorter than
// this is bound by the host, not by the GPU.
const (
	launchLow  = 3e-6
	launchHigh = 5e-6
)

// published is one schedule of docs/PERFORMANCE.md §4.4's per-op roofline
// bounds for a bs-128 training step on the same H100 numbers, in ms.
type published struct {
	Schedule   string
	Atto, Tiny float64
}

// section44 holds §4.4's rows (output of performance_roofline.py 128).
var section44 = []published{
	{"fused, bf16", 3.48, 12.66},
	{"fused, fp32 I/O + TF32 GEMM", 6.82, 24.71},
	{"fused, strict fp32", 10.08, 63.72},
	{"unfused, bf16", 4.85, 17.62},
	{"eager-like, bf16", 7.77, 28.11},
}

// Per-block activation traffic of §4.3 in units of A (elements of one
// block input): fused 21A forward + 48A backward, unfused one kernel per
// op 37A + 62A, PyTorch-eager-like about 170A.
const (
	fusedA   = 69
	unfusedA = 99
	eagerA   = 170
)
