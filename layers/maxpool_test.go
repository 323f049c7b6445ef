package layers

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestMaxPool2d checks the pool's values on a hand-made input (padding
// never wins, ties go to the first maximum as in PyTorch, overlapping
// windows sum their gradients).
func TestMaxPool2d(t *testing.T) {
	be := cpu.New()
	l := must[*MaxPool2d](t)(NewMaxPool2d(be, "maxpool", 3, 2, 1))
	x := mustAlloc(t, be, kernels.Shape{1, 3, 3, 1})
	copy(x.Host32(), []float32{
		-5, -1, -7,
		-2, -9, -3,
		-4, -8, -3,
	})
	y, err := l.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	// Windows centred on (0,0), (0,2), (2,0), (2,2); all negative, so a
	// winning zero pad would show.
	want := []float32{-1, -1, -2, -3}
	for i, v := range y.Host32() {
		if v != want[i] {
			t.Fatalf("forward %v, want %v", y.Host32(), want)
		}
	}
	dy := mustAlloc(t, be, y.Shape)
	copy(dy.Host32(), []float32{1, 2, 4, 8})
	dx, err := l.Backward(dy)
	if err != nil {
		t.Fatal(err)
	}
	// (0,1) wins windows 0 and 1 (their gradients sum), (1,0) window 2,
	// and of the tie -3 at (1,2) and (2,2) the first wins window 3.
	wantDX := []float32{0, 3, 0, 4, 0, 8, 0, 0, 0}
	for i, v := range dx.Host32() {
		if v != wantDX[i] {
			t.Fatalf("backward %v, want %v", dx.Host32(), wantDX)
		}
	}
	if _, err := NewMaxPool2d(be, "bad", 3, 2, 2); err == nil {
		t.Error("pad 2 on a 3×3 window accepted")
	}
}
