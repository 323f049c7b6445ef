package models

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

const pretrainedData = "testdata/pretrained"

// goldenSmallConfig is the model scripts/golden/pretrained.py saves: depths
// (1, 1, 2, 1), dims (8, 16, 24, 32), the 4×4 stem.
func goldenSmallConfig(inChans, classes int) Config {
	return Config{Name: "convnextv2_small_test", Depths: []int{1, 1, 2, 1}, Dims: []int{8, 16, 24, 32},
		InChans: inChans, NumClasses: classes, StemPatch: 4, Kernel: 7, MLPRatio: 4, GRN: true,
		HeadInitScale: 1, Eps: 1e-6, InputSize: 64, ConvMLP: true}
}

func newSmall(t *testing.T, inChans, classes int) *Model {
	t.Helper()
	m, err := New(cpu.New(), goldenSmallConfig(inChans, classes), 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// values returns every parameter's value by name.
func values(t *testing.T, m *Model) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range m.Params() {
		v := make([]float32, p.Value.Len())
		if err := m.Backend.Download(v, p.Value); err != nil {
			t.Fatal(err)
		}
		out[p.Name] = v
	}
	return out
}

// TestPretrainedOfficialPT loads a torch.save({"model": state_dict}) file
// of the official ConvNeXtV2 class (scripts/golden/pretrained.py, official
// naming) and matches the logits PyTorch computed, rtol 1e-4.
func TestPretrainedOfficialPT(t *testing.T) {
	m := newSmall(t, 3, 10)
	rep, err := m.LoadPretrained(filepath.Join(pretrainedData, "official_small.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 70 || len(rep.NotLoaded)+len(rep.Unused) != 0 || rep.HeadDropped || rep.StemAdapted != "" {
		t.Errorf("report: %v", rep)
	}
	golden, _, err := ReadSafetensors(filepath.Join(pretrainedData, "official_small_logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x, logits := golden[0], golden[1]
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	xt, _ := m.Backend.Alloc(kernels.Shape{n, h, w, c})
	copy(xt.Host32(), NCHWToNHWC(x.Data, n, c, h, w))
	m.SetTraining(false)
	got, err := m.Forward(xt)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "logits", got.Host32(), logits.Data, 1e-4, 1e-5)

	// A .pt file carries no nextconv config: train forward asks for -model.
	if _, err := ConfigFromCheckpoint(filepath.Join(pretrainedData, "official_small.pt")); !errors.Is(err, ErrNoConfig) {
		t.Errorf("ConfigFromCheckpoint(.pt): err = %v, want ErrNoConfig", err)
	}
	strict := newSmall(t, 3, 10) // Load (strict, used by train forward/eval) reads .pt files too
	if err := strict.Load(filepath.Join(pretrainedData, "official_small.pt")); err != nil {
		t.Fatal(err)
	}
	a, b := values(t, m), values(t, strict)
	for name := range a {
		if !slices.Equal(a[name], b[name]) {
			t.Errorf("Load and LoadPretrained differ on %s", name)
		}
	}
}

// TestPretrainedTimmRules loads a timm-named checkpoint (3 channels, 10
// classes) into models with other input channels and class counts and
// compares with what timm's load_pretrained left in the same situation
// (scripts/golden/pretrained.py): the stem converted by adapt_input_conv,
// the classifier kept or re-initialised, everything else the checkpoint's.
func TestPretrainedTimmRules(t *testing.T) {
	all, meta, err := ReadSafetensors(filepath.Join(pretrainedData, "timm_small.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var ckpt []Tensor
	want := map[string]Tensor{}
	for _, x := range all {
		if strings.HasPrefix(x.Name, "in") {
			want[x.Name] = x
		} else {
			ckpt = append(ckpt, x)
		}
	}
	for _, tc := range []struct {
		name        string
		in, classes int
	}{{"in1_c10", 1, 10}, {"in5_c7", 5, 7}, {"in3_c7", 3, 7}, {"in2_c10", 2, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSmall(t, tc.in, tc.classes)
			fresh := values(t, m)
			rep, err := m.LoadPretrainedTensors("timm_small", ckpt)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			got := values(t, m)
			headLoaded := meta[tc.name+".head_loaded"] == "true"
			if rep.HeadDropped == headLoaded {
				t.Errorf("head dropped = %v, timm kept it = %v", rep.HeadDropped, headLoaded)
			}
			if (rep.StemAdapted != "") != (tc.in != 3) {
				t.Errorf("stem adapted %q for %d channels", rep.StemAdapted, tc.in)
			}
			testutil.AllClose(t, "stem.0.weight", got["stem.0.weight"], want[tc.name+".stem.0.weight"].Data, 1e-6, 1e-7)
			for _, x := range ckpt {
				switch {
				case x.Name == "stem.0.weight":
				case strings.HasPrefix(x.Name, "head.fc.") && !headLoaded:
					if !slices.Equal(got[x.Name], fresh[x.Name]) {
						t.Errorf("%s is not the model's own initialisation", x.Name)
					}
				case !slices.Equal(got[x.Name], x.Data):
					t.Errorf("%s differs from the checkpoint", x.Name)
				}
			}
			if !headLoaded && (!slices.Equal(rep.NotLoaded, []string{"head.fc.weight", "head.fc.bias"}) || len(rep.Unused) != 2) {
				t.Errorf("not loaded %v, unused %v", rep.NotLoaded, rep.Unused)
			}
		})
	}
}

// TestPretrainedFCMAE loads the encoder of an FCMAE pre-training checkpoint
// (official fcmae.py names: encoder.* without final norm and head, plus the
// decoder, mask token, proj and pred) and lists what it left and skipped.
func TestPretrainedFCMAE(t *testing.T) {
	official, err := ReadTensors(filepath.Join(pretrainedData, "official_small.pt"))
	if err != nil {
		t.Fatal(err)
	}
	var ts []Tensor
	for _, x := range official {
		if !strings.HasPrefix(x.Name, "norm.") && !strings.HasPrefix(x.Name, "head.") {
			x.Name = "encoder." + x.Name
			ts = append(ts, x)
		}
	}
	ts = append(ts,
		Tensor{Name: "proj.weight", Shape: []int{512, 32, 1, 1}, Data: make([]float32, 512*32)},
		Tensor{Name: "mask_token", Shape: []int{1, 512, 1, 1}, Data: make([]float32, 512)},
		Tensor{Name: "decoder.0.dwconv.weight", Shape: []int{512, 1, 7, 7}, Data: make([]float32, 512*49)},
		Tensor{Name: "pred.weight", Shape: []int{3072, 512, 1, 1}, Data: make([]float32, 3072*512)})
	m := newSmall(t, 3, 10)
	fresh := values(t, m)
	rep, err := m.LoadPretrainedTensors("fcmae", ts)
	if err != nil {
		t.Fatal(err)
	}
	wantNot := []string{"head.norm.weight", "head.norm.bias", "head.fc.weight", "head.fc.bias"}
	wantUnused := []string{"decoder.0.dwconv.weight", "mask_token", "pred.weight", "proj.weight"}
	if rep.Loaded != 66 || !slices.Equal(rep.NotLoaded, wantNot) || !slices.Equal(rep.Unused, wantUnused) {
		t.Errorf("report: %v", rep)
	}
	got := values(t, m)
	if !slices.Equal(got["stem.0.weight"], official[0].Data) || !slices.Equal(got["head.fc.weight"], fresh["head.fc.weight"]) {
		t.Error("encoder not loaded or head not left at its initialisation")
	}
	if s := rep.String(); strings.Contains(s, "\n") || !strings.Contains(s, "mask_token") || !strings.Contains(s, "head.norm.bias") {
		t.Errorf("report line %q", s)
	}
}

// TestPretrainedBadInput checks the errors: another architecture (first
// mismatches listed, weights untouched), one mis-shaped tensor named, a
// stem that adapt_input_conv cannot convert, a missing file, a truncated
// .pt and a sparse checkpoint.
func TestPretrainedBadInput(t *testing.T) {
	pt := filepath.Join(pretrainedData, "official_small.pt")
	atto, err := Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cpu.New(), atto, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := values(t, m)
	_, err = m.LoadPretrained(pt)
	if err == nil || !strings.Contains(err.Error(), "another architecture") || !strings.Contains(err.Error(), "downsample_layers.0.0.weight (file [8 3 4 4], model [40 3 4 4])") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	for name, v := range values(t, m) {
		if !slices.Equal(v, before[name]) {
			t.Fatalf("%s changed although the load failed", name)
		}
	}

	official, err := ReadTensors(pt)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(official)
	bad[30] = Tensor{Name: bad[30].Name, Shape: []int{3, 3}, Data: make([]float32, 9)}
	if _, err := newSmall(t, 3, 10).LoadPretrainedTensors("x", bad); err == nil || !strings.Contains(err.Error(), bad[30].Name) {
		t.Errorf("mis-shaped %s: err = %v", bad[30].Name, err)
	}
	stem1 := slices.Clone(official)
	stem1[0] = Tensor{Name: stem1[0].Name, Shape: []int{8, 1, 4, 4}, Data: make([]float32, 128)}
	if _, err := newSmall(t, 3, 10).LoadPretrainedTensors("x", stem1); err == nil || !strings.Contains(err.Error(), "converts only from 3") {
		t.Errorf("1-channel stem into 3: err = %v", err)
	}
	sparse := append(slices.Clone(official), Tensor{Name: "encoder.stages.0.0.dwconv.kernel", Shape: []int{49, 8}, Data: make([]float32, 392)})
	if _, err := newSmall(t, 3, 10).LoadPretrainedTensors("x", sparse); err == nil || !strings.Contains(err.Error(), "MinkowskiEngine") {
		t.Errorf("sparse kernel: err = %v", err)
	}

	if _, err := newSmall(t, 3, 10).LoadPretrained(filepath.Join(t.TempDir(), "none.pt")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	raw, _ := os.ReadFile(pt)
	trunc := filepath.Join(t.TempDir(), "trunc.pt")
	if err := os.WriteFile(trunc, raw[:len(raw)-200], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newSmall(t, 3, 10).LoadPretrained(trunc); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated .pt: err = %v", err)
	}
}
