package testutil

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// Upload copies v into dst on be (any backend, a device one included) and
// fails the test on an error (a length or dtype mismatch).
func Upload(t testing.TB, be kernels.Backend, dst kernels.Tensor, v []float32) {
	t.Helper()
	if err := be.Upload(dst, v); err != nil {
		t.Fatal(err)
	}
}

// Download returns src's values from be as float32 and fails the test on
// an error.
func Download(t testing.TB, be kernels.Backend, src kernels.Tensor) []float32 {
	t.Helper()
	v := make([]float32, src.Len())
	if err := be.Download(v, src); err != nil {
		t.Fatal(err)
	}
	return v
}
