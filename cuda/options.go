package cuda

import (
	"fmt"
	"os"
	"strconv"
)

// Option configures [New].
type Option func(*config)

// config is what New is asked for. Its defaults come from the environment:
//
//	NEXTCONV_CUDA_DEVICE=N   the device ordinal (default 0)
//	NEXTCONV_CUDA_TF32=1     TF32 tensor-core math in Sgemm (default off)
type config struct {
	device int
	tf32   bool
}

// WithDevice selects the GPU by its CUDA ordinal (0 is the first device in
// CUDA_VISIBLE_DEVICES order). It overrides NEXTCONV_CUDA_DEVICE.
func WithDevice(ordinal int) Option { return func(c *config) { c.device = ordinal } }

// WithTF32 lets Sgemm run on TF32 tensor cores (cublasSetMathMode with
// CUBLAS_TF32_TENSOR_OP_MATH): the inputs of each product are rounded to
// 10 mantissa bits, accumulation stays float32. This is what PyTorch's
// torch.backends.cuda.matmul.allow_tf32 = True does; products then differ
// from float32 GEMMs by about 1e-3 relative. It overrides
// NEXTCONV_CUDA_TF32. Off by default, so that results match the CPU
// reference to float32 rounding.
func WithTF32(on bool) Option { return func(c *config) { c.tf32 = on } }

// newConfig reads the environment and applies opts over it.
func newConfig(opts []Option) (config, error) {
	var c config
	if v := os.Getenv("NEXTCONV_CUDA_DEVICE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("cuda: NEXTCONV_CUDA_DEVICE=%q is not a device ordinal", v)
		}
		c.device = n
	}
	if v := os.Getenv("NEXTCONV_CUDA_TF32"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("cuda: NEXTCONV_CUDA_TF32=%q is not a boolean", v)
		}
		c.tf32 = on
	}
	for _, o := range opts {
		o(&c)
	}
	if c.device < 0 {
		return c, fmt.Errorf("cuda: negative device ordinal %d", c.device)
	}
	return c, nil
}
