//go:build cgo && !cuda

package trainer

import (
	"errors"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// TestOpenGPUBackends opens the simulator backend (and uses it once) and
// checks that "cuda" without -tags cuda fails with ErrNoCUDA instead of
// falling back to anything.
func TestOpenGPUBackends(t *testing.T) {
	be, closeBE, err := OpenBackend("cudasim")
	if err != nil {
		t.Fatal(err)
	}
	if be.Name() != "cudasim" {
		t.Errorf("backend %q", be.Name())
	}
	x, err := be.Alloc(kernels.Shape{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Upload(x, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 6)
	if err := be.Download(got, x); err != nil || got[5] != 6 {
		t.Errorf("round trip through the simulator: %v, %v", got, err)
	}
	if err := closeBE(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, _, err := OpenBackend("cuda"); !errors.Is(err, cuda.ErrNoCUDA) {
		t.Errorf(`OpenBackend("cuda") without -tags cuda: %v, want ErrNoCUDA`, err)
	}
}
