package steptest

import (
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// run runs c on a fresh CPU backend in precision p.
func run(t *testing.T, c Case, p kernels.Precision) Result {
	t.Helper()
	be := cpu.New()
	if err := be.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	r, err := Run(be, c, 11)
	if err != nil {
		t.Fatalf("%s step: %v", p, err)
	}
	return r
}

// TestBF16EmulationStep runs a whole ConvNeXt V2 and V1 training step on
// the CPU in bf16 (the emulation) and in fp32 from the same weights and
// batch: the loss and every parameter gradient agree within 5e-2 relative
// (L2), the bf16 tensors hold only bf16 values, and the two differ at all
// (so the emulation is not silently running fp32).
func TestBF16EmulationStep(t *testing.T) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			ref := run(t, c, kernels.FP32)
			got := run(t, c, kernels.BF16)
			worst, err := Compare(got, ref, 5e-2, 5e-2)
			if err != nil {
				t.Error(err)
			}
			t.Logf("loss fp32 %.6f bf16 %.6f; worst gradient relative L2 error %.3g", ref.Loss, got.Loss, worst)
			if worst == 0 {
				t.Error("bf16 gradients equal the fp32 ones exactly: nothing was rounded")
			}
			if !got.Representable {
				t.Error("a bf16 tensor holds a value bfloat16 cannot represent")
			}
		})
	}
}

// TestCompareFails checks that Compare reports a wrong loss and a wrong
// gradient, naming the parameter.
func TestCompareFails(t *testing.T) {
	want := Result{Loss: 1, Names: []string{"a", "b"}, Grads: [][]float32{{1, 2}, {0, 0}}}
	got := Result{Loss: 1.01, Names: want.Names, Grads: [][]float32{{1, 2.1}, {0, 0}}}
	if _, err := Compare(got, want, 1e-3, 1e-1); err == nil {
		t.Error("loss off by 1e-2 passed a 1e-3 tolerance")
	}
	got.Loss = 1
	if _, err := Compare(got, want, 1e-3, 1e-2); err == nil {
		t.Error("gradient a off by 4.5e-2 passed a 1e-2 tolerance")
	}
	got.Grads[1][0] = 1e-30
	if worst, err := Compare(got, want, 1e-3, 1e-1); err == nil || worst != RelL2(got.Grads[1], want.Grads[1]) {
		t.Errorf("a non-zero gradient where zero is wanted passed (worst %v)", worst)
	}
}
