//go:build !(cuda && cgo)

package cuda

import "fmt"

// New returns ErrNoCUDA: this binary was built without the cuda build tag
// or with cgo disabled, so it contains no CUDA driver. Build with
//
//	go build -tags cuda ./...
//
// (cgo on, CUDA headers and libcuda present; see driver_cuda.go) to get the
// real one. The options are checked all the same, so a bad
// NEXTCONV_CUDA_DEVICE is reported in every build; image is not used.
func New(image Image, opts ...Option) (Driver, error) {
	if _, err := newConfig(opts); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: this binary was built without -tags cuda or without cgo", ErrNoCUDA)
}
