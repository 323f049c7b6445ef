//go:build !(cuda && cgo)

package gpu

import (
	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

// newTestDriver returns the driver the kernel tests and benchmarks run on:
// the CPU simulator in a build without -tags cuda (driver_cuda_test.go
// picks the real GPU otherwise).
func newTestDriver() (cuda.Driver, error) {
	d, err := sim.New()
	if err != nil {
		return nil, err // not a typed nil *sim.Driver inside the interface
	}
	return d, nil
}
