package trainer

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// OpenBackend returns the backend named by train.backend: "cpu" (float32,
// pure Go with OpenBLAS), "cudasim" (the CUDA kernels on the CPU simulator)
// or "cuda" (a real GPU; needs a binary built with -tags cuda). The
// returned close function releases device resources.
func OpenBackend(name string) (kernels.Backend, func() error, error) {
	switch name {
	case "cpu":
		return cpu.New(), func() error { return nil }, nil
	case "cuda", "cudasim":
		return openGPU(name)
	}
	return nil, nil, fmt.Errorf("trainer: unknown backend %q (want cpu, cuda or cudasim)", name)
}

// openGPU is replaced when the CUDA backend is linked in.
var openGPU = func(name string) (kernels.Backend, func() error, error) {
	return nil, nil, fmt.Errorf("trainer: backend %q is not available yet", name)
}
