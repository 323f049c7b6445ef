//go:build cgo

package trainer

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
)

func init() { openGPU = openCUDABackend }

// openCUDABackend opens the CUDA backend on the simulator ("cudasim") or on
// a GPU ("cuda": device and TF32 from NEXTCONV_CUDA_DEVICE and
// NEXTCONV_CUDA_TF32; wraps cuda.ErrNoCUDA in a binary built without -tags
// cuda). The close function closes the backend, then the driver.
func openCUDABackend(name string) (kernels.Backend, func() error, error) {
	var drv cuda.Driver
	switch name {
	case "cudasim":
		d, err := sim.New()
		if err != nil {
			return nil, nil, fmt.Errorf("trainer: backend cudasim: %w", err)
		}
		drv = d
	case "cuda":
		d, err := cuda.New(gpu.Image)
		if err != nil {
			return nil, nil, fmt.Errorf("trainer: backend cuda: %w", err)
		}
		drv = d
	default:
		return nil, nil, fmt.Errorf("trainer: %q is not a CUDA backend", name)
	}
	be, err := gpu.New(drv)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("trainer: backend %s: %w", name, err), drv.Close())
	}
	closeAll := func() error { return errors.Join(be.Close(), drv.Close()) }
	return be, closeAll, nil
}
