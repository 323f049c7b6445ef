//go:build !(cuda && cgo)

package cuda

import (
	"errors"
	"testing"
)

// TestNewWithoutCUDA: a build without -tags cuda has no driver, and says so
// with ErrNoCUDA rather than falling back to anything.
func TestNewWithoutCUDA(t *testing.T) {
	t.Setenv("NEXTCONV_CUDA_DEVICE", "")
	d, err := New(Image{})
	if d != nil || !errors.Is(err, ErrNoCUDA) {
		t.Errorf("New(Image{}) = %v, %v; want nil, ErrNoCUDA", d, err)
	}
	if _, err := New(Image{}, WithDevice(-3)); err == nil || errors.Is(err, ErrNoCUDA) {
		t.Errorf("a bad option is reported as %v", err)
	}
}
