package models

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
)

// tinyFCMAE returns the golden script's encoder (scripts/golden/fcmae.py):
// two stages of one V2 block, dims 4 and 8, a 2×2 stem, 5×5 depthwise
// kernels, RGB, so the patch is 4 pixels.
func tinyFCMAE(t *testing.T, be kernels.Backend) *FCMAE {
	t.Helper()
	enc := Config{Name: "tiny", Depths: []int{1, 1}, Dims: []int{4, 8}, InChans: 3, NumClasses: 2, StemPatch: 2,
		Kernel: 5, MLPRatio: 4, GRN: true, HeadInitScale: 1, Eps: 1e-6}
	f, err := NewFCMAE(be, enc, FCMAEConfig{MaskRatio: 0.6, DecoderDim: 6, DecoderDepth: 1, NormPix: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func upload(t *testing.T, be kernels.Backend, s kernels.Shape, v []float32) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(s)
	if err == nil {
		err = be.Upload(x, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func download(t *testing.T, be kernels.Backend, x kernels.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	if err := be.Download(v, x); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFCMAEGolden matches the mask, the masked dense encoder's output, the
// prediction, the per-patch and mean losses and every parameter gradient
// with PyTorch's float64 reference written from the official fcmae.py
// (scripts/golden/fcmae.py), on the float32 and float64 CPU backends.
func TestFCMAEGolden(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", "fcmae.safetensors"))
	for _, tc := range []struct {
		be   *cpu.Backend
		rtol float64
	}{{cpu.New(), 2e-4}, {cpu.New64(), 1e-6}} {
		t.Run(tc.be.Name(), func(t *testing.T) {
			be := tc.be
			f := tinyFCMAE(t, be)
			if f.Patch != 4 {
				t.Fatalf("patch %d, want the total stride 4", f.Patch)
			}
			for _, p := range f.Arena.Params {
				want := g.Tensor(t, "param."+p.Name, []int(p.Shape())...)
				if err := be.Upload(p.Value, want); err != nil {
					t.Fatal(err)
				}
			}
			noise := g.Tensor(t, "noise", 2, 9)
			n64 := make([]float64, len(noise))
			for i, v := range noise {
				n64[i] = float64(v)
			}
			maskV := MaskFromNoise(n64, 2, 9, 0.6)
			testutil.AllClose(t, "mask", maskV, g.Tensor(t, "mask", 2, 3, 3), 0, 0)
			x := upload(t, be, kernels.Shape{2, 12, 12, 3}, g.Tensor(t, "img", 2, 12, 12, 3))
			mask := upload(t, be, kernels.Shape{2, 3, 3}, maskV)
			f.Mask.T = mask
			enc, err := f.Masked.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "encoder", download(t, be, enc), g.Tensor(t, "encoder", 2, 3, 3, 8), tc.rtol, tc.rtol*1e-2)
			pred, err := f.Forward(x, mask)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "pred", download(t, be, pred), g.Tensor(t, "pred", 2, 3, 3, 48), tc.rtol, tc.rtol*1e-2)
			per, err := f.Loss.Forward(pred, x, mask, 12) // 2·(9 − int(9·0.4))
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "patch loss", download(t, be, per), g.Tensor(t, "patch_loss", 2, 3, 3), tc.rtol, 0)
			loss, err := f.Loss.Mean(maskV)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "loss", []float64{loss}, g.Tensor(t, "loss", 1), tc.rtol, 0)
			f.Arena.ZeroGrad()
			dpred, err := f.Loss.Backward()
			if err == nil {
				err = f.Backward(dpred)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range f.Arena.Params {
				want := g.Tensor(t, "grad."+p.Name, []int(p.Shape())...)
				testutil.AllClose(t, "grad "+p.Name, download(t, be, p.Grad), want, 10*tc.rtol, 1e-3*tc.rtol)
			}
		})
	}
}

// TestFCMAESparseEquivalence checks the dense emulation against the sparse
// computation where the latter is a plain dense one: when the visible patches
// form one rectangle, a submanifold sparse encoder sees exactly the cropped
// image with zeros beyond its border, so the masked encoder's output on the
// rectangle must equal the unmasked encoder run on the crop (GRN statistics
// included), and be zero on every masked patch.
func TestFCMAESparseEquivalence(t *testing.T) {
	be := cpu.New64()
	f := tinyFCMAE(t, be)
	rng := testutil.NewRand(7)
	for _, p := range f.Arena.Params { // GRN away from its zero init, biases non-zero
		if err := be.Upload(p.Value, testutil.Rand(rng, p.Value.Len(), 0.5)); err != nil {
			t.Fatal(err)
		}
	}
	const n, g, side, c = 2, 4, 16, 3
	img := testutil.Rand(rng, n*side*side*c, 1)
	// visible: rows 1–2, columns 1–3 of the 4×4 patch grid
	r0, r1, c0, c1 := 1, 3, 1, 4
	maskV := make([]float32, n*g*g)
	for i := range maskV {
		r, col := i/g%g, i%g
		if r < r0 || r >= r1 || col < c0 || col >= c1 {
			maskV[i] = 1
		}
	}
	mask := upload(t, be, kernels.Shape{n, g, g}, maskV)
	f.Mask.T = mask
	dense, err := f.Masked.Forward(upload(t, be, kernels.Shape{n, side, side, c}, img))
	if err != nil {
		t.Fatal(err)
	}
	got := download(t, be, dense)
	ch, cw := (r1-r0)*f.Patch, (c1-c0)*f.Patch
	crop := make([]float32, 0, n*ch*cw*c)
	for s := range n {
		for y := r0 * f.Patch; y < r1*f.Patch; y++ {
			row := ((s*side+y)*side + c0*f.Patch) * c
			crop = append(crop, img[row:row+cw*c]...)
		}
	}
	plain := []layers.Layer{f.Encoder.Stem}
	for _, st := range f.Encoder.Stages {
		if st.Downsample != nil {
			plain = append(plain, st.Downsample)
		}
		for _, b := range st.Blocks {
			plain = append(plain, b)
		}
	}
	sparse, err := layers.NewSequential("plain", plain...).Forward(upload(t, be, kernels.Shape{n, ch, cw, c}, crop))
	if err != nil {
		t.Fatal(err)
	}
	want := download(t, be, sparse)
	d := 8
	var gotVisible []float32
	for s := range n {
		for r := range g {
			for col := range g {
				v := got[((s*g+r)*g+col)*d : ((s*g+r)*g+col+1)*d]
				if maskV[(s*g+r)*g+col] == 0 {
					gotVisible = append(gotVisible, v...)
				} else {
					testutil.AllClose(t, "masked patch", v, make([]float32, d), 0, 0)
				}
			}
		}
	}
	testutil.AllClose(t, "visible patches", gotVisible, want, 1e-6, 1e-7)
}

// TestMaskFromNoise checks fcmae.py's rule: int(L·(1 − ratio)) visible
// patches per row, the ones with the smallest noise, ties to the lower index.
func TestMaskFromNoise(t *testing.T) {
	got := MaskFromNoise([]float64{0.5, -1, 2, 0, 0, 3, 3, 3, 3, 3}, 2, 5, 0.6)
	testutil.AllClose(t, "mask", got, []float32{1, 0, 1, 0, 1, 0, 0, 1, 1, 1}, 0, 0)
	m := RandomMask(testutil.NewRand(1), 3, 49, 0.6)
	for s := range 3 {
		sum := 0
		for _, v := range m[s*49 : (s+1)*49] {
			sum += int(v)
		}
		if sum != 49-19 {
			t.Errorf("sample %d: %d of 49 patches masked, want 30 (19 kept)", s, sum)
		}
	}
}

// TestFCMAECheckpoint checks the saved names: every encoder tensor under
// the classification model's name (no head), the decoder under fcmae.py's
// (proj, mask_token, decoder.i, pred); a classification model loads the
// encoder once the decoder keys are dropped and the head added; the
// metadata carries both configs.
func TestFCMAECheckpoint(t *testing.T) {
	be := cpu.New()
	f := tinyFCMAE(t, be)
	path := filepath.Join(t.TempDir(), "fcmae.safetensors")
	if err := f.Save(path, Timm, nil); err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var fc FCMAEConfig
	if err := json.Unmarshal([]byte(meta[MetaFCMAE]), &fc); err != nil || fc != f.Config {
		t.Errorf("metadata %s = %q (%v), want %+v", MetaFCMAE, meta[MetaFCMAE], err, f.Config)
	}
	m, err := New(be, f.Encoder.Config, 99)
	if err != nil {
		t.Fatal(err)
	}
	var enc []Tensor
	decoder := map[string]bool{}
	for _, tn := range tensors {
		if IsDecoderKey(tn.Name) {
			decoder[tn.Name] = true
			continue
		}
		if strings.HasPrefix(tn.Name, "head.") {
			t.Errorf("FCMAE checkpoint holds head tensor %s", tn.Name)
		}
		enc = append(enc, tn)
	}
	for _, k := range []string{"proj.weight", "proj.bias", "mask_token", "decoder.0.conv_dw.weight", "decoder.0.mlp.grn.weight", "pred.weight", "pred.bias"} {
		if !decoder[k] {
			t.Errorf("decoder key %s missing (have %v)", k, decoder)
		}
	}
	head, err := m.StateDict(Timm)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range head {
		if strings.HasPrefix(tn.Name, "head.") {
			enc = append(enc, tn)
		}
	}
	if err := m.LoadTensors(path, enc); err != nil {
		t.Fatal(err)
	}
	for _, tn := range enc {
		for _, p := range m.Params() {
			if p.Name == tn.Name {
				testutil.AllClose(t, p.Name, download(t, be, p.Value), tn.Data, 0, 0)
			}
		}
	}
}

// TestFCMAEConfigErrors checks the refusals: ratios outside (0, 1), a zero
// or huge decoder, and a decoder over the parameter budget, before any
// allocation.
func TestFCMAEConfigErrors(t *testing.T) {
	for _, c := range []FCMAEConfig{{MaskRatio: 0, DecoderDim: 8, DecoderDepth: 1}, {MaskRatio: 1, DecoderDim: 8, DecoderDepth: 1},
		{MaskRatio: 0.6, DecoderDim: 0, DecoderDepth: 1}, {MaskRatio: 0.6, DecoderDim: 1 << 20, DecoderDepth: 1},
		{MaskRatio: 0.6, DecoderDim: 8, DecoderDepth: 0}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v passed", c)
		}
	}
	enc, err := Variant("convnextv2_atto")
	if err != nil {
		t.Fatal(err)
	}
	enc.InChans, enc.NumClasses = 3, 10
	old := SetLimits(Limits{MaxParams: 10_000_000, MaxMemory: DefaultLimits().MaxMemory})
	defer SetLimits(old)
	_, err = NewFCMAE(cpu.New(), enc, FCMAEConfig{MaskRatio: 0.6, DecoderDim: 4096, DecoderDepth: 1}, 0)
	if err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("a 134M-parameter decoder under a 10M budget: got %v", err)
	}
}
