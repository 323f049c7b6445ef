package layers

import (
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// patchMask returns a PatchMask on be holding m [n, gh, gw].
func patchMask(t *testing.T, be *cpu.Backend, n, gh, gw int, m ...float32) *PatchMask {
	t.Helper()
	mt := mustAlloc(t, be, kernels.Shape{n, gh, gw})
	if err := be.Upload(mt, m); err != nil {
		t.Fatal(err)
	}
	return &PatchMask{T: mt}
}

// TestMaskGradients checks Mask (zero fill and token) against central
// differences in float64 on an odd shape: 2 samples, a 2×3 patch grid of
// 3-pixel patches, 5 channels.
func TestMaskGradients(t *testing.T) {
	be := cpu.New64()
	rng := testutil.NewRand(3)
	src := patchMask(t, be, 2, 2, 3, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1)
	x := kernels.Shape{2, 6, 9, 5}
	t.Run("zero", func(t *testing.T) { gradCheck(t, be, NewMask(be, "mask", src), x, rng) })
	t.Run("token", func(t *testing.T) {
		gradCheck(t, be, must[*Mask](t)(NewMaskToken(be, "mask_tok", "mask_token", 5, src, nil)), x, rng)
	})
}

// TestMaskValues checks Mask's output element by element: masked patches
// take the token (or zero), visible ones keep x, at scale 2.
func TestMaskValues(t *testing.T) {
	be := cpu.New()
	src := patchMask(t, be, 1, 1, 2, 0, 1)
	l := must[*Mask](t)(NewMaskToken(be, "m", "mask_token", 2, src, nil))
	copy(l.Token.Value.Host32(), []float32{7, 8})
	x := mustAlloc(t, be, kernels.Shape{1, 2, 4, 2})
	for i := range x.Host32() {
		x.Host32()[i] = float32(i + 1)
	}
	y := must[kernels.Tensor](t)(l.Forward(x))
	want := []float32{1, 2, 3, 4, 7, 8, 7, 8, 9, 10, 11, 12, 7, 8, 7, 8}
	testutil.AllClose(t, "y", y.Host32(), want, 0, 0)
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{1, 3, 4, 2})); err == nil {
		t.Error("a 3-row input under a 1-row patch grid of 2-pixel patches passed")
	}
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{1, 2, 4, 3})); err == nil {
		t.Error("3 channels under a 2-channel token passed")
	}
}

// TestPatchLossGradients checks PatchLoss's dL/dpred against central
// differences of its masked mean in float64, with and without norm_pix.
func TestPatchLossGradients(t *testing.T) {
	be := cpu.New64()
	rng := testutil.NewRand(4)
	const n, gh, gw, p, c = 2, 2, 3, 2, 3
	maskV := []float32{1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0}
	mask := patchMask(t, be, n, gh, gw, maskV...).T
	for _, norm := range []bool{false, true} {
		l := NewPatchLoss(be, p, norm)
		img := mustAlloc(t, be, kernels.Shape{n, gh * p, gw * p, c})
		copy(img.Host64(), testutil.Rand64(rng, img.Len(), 1))
		pred := mustAlloc(t, be, kernels.Shape{n, gh, gw, p * p * c})
		copy(pred.Host64(), testutil.Rand64(rng, pred.Len(), 1))
		loss := func() float64 {
			per := must[kernels.Tensor](t)(l.Forward(pred, img, mask, 6))
			s := 0.0 // Mean reads float32; sum in float64 here
			for i, v := range per.Host64() {
				s += float64(maskV[i]) * v
			}
			return s / 6
		}
		loss()
		d := must[kernels.Tensor](t)(l.Backward())
		got := append([]float64(nil), d.Host64()...)
		testutil.AllClose(t, "dpred", got, testutil.NumGrad(pred.Host64(), 1e-6, loss), 1e-6, 1e-8)
	}
}

// TestPatchLossValues checks one patch by hand: 1 channel, 2×2 patch
// [1 2; 3 4], prediction 0: the normalised target is (v − 2.5)/sqrt(5/3 +
// 1e-6) and the loss its mean square, 3/4·(5/3)/(5/3 + 1e-6).
func TestPatchLossValues(t *testing.T) {
	be := cpu.New64()
	l := NewPatchLoss(be, 2, true)
	img := mustAlloc(t, be, kernels.Shape{1, 2, 2, 1})
	copy(img.Host64(), []float64{1, 2, 3, 4})
	mask := patchMask(t, be, 1, 1, 1, 1).T
	loss := must[kernels.Tensor](t)(l.Forward(mustAlloc(t, be, kernels.Shape{1, 1, 1, 4}), img, mask, 1))
	v := 5.0 / 3
	testutil.AllClose(t, "loss", loss.Host64(), []float64{0.75 * v / (v + 1e-6)}, 1e-12, 0)
	if _, err := l.Forward(mustAlloc(t, be, kernels.Shape{1, 1, 1, 4}), img, mask, 0); err == nil {
		t.Error("zero masked patches passed")
	}
}
