//go:build cuda && cgo

package gpu

import (
	"os"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

// newTestDriver returns the driver the kernel tests and benchmarks run on.
// Built with -tags cuda it is the real GPU (cuda.New), so the same tests
// that run on the simulator compare the GPU with the CPU reference;
// NEXTCONV_TEST_DRIVER=cudasim selects the simulator instead. (Such a
// binary exits at start on a machine without a GPU: gorgonia.org/cu's init.)
func newTestDriver() (cuda.Driver, error) {
	if os.Getenv("NEXTCONV_TEST_DRIVER") == "cudasim" {
		d, err := sim.New()
		if err != nil {
			return nil, err // not a typed nil *sim.Driver inside the interface
		}
		return d, nil
	}
	return cuda.New(Image)
}
