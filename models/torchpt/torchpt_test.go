package torchpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testdata = "../testdata/pretrained"

// TestReadOfficial reads a torch.save({"model": state_dict}) file of the
// official ConvNeXtV2 class (scripts/golden/pretrained.py) in order.
func TestReadOfficial(t *testing.T) {
	ts, err := Read(filepath.Join(testdata, "official_small.pt"), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	// 16 downsample tensors + 5 blocks × 10 + norm 2 + head 2
	if len(ts) != 70 {
		t.Fatalf("%d tensors, want 70", len(ts))
	}
	first, grn, last := ts[0], ts[22], ts[len(ts)-1]
	if first.Name != "downsample_layers.0.0.weight" || !slices.Equal(first.Shape, []int{8, 3, 4, 4}) || len(first.Data) != 384 {
		t.Errorf("first tensor %s %v (%d values)", first.Name, first.Shape, len(first.Data))
	}
	if grn.Name != "stages.0.0.grn.gamma" || !slices.Equal(grn.Shape, []int{1, 1, 1, 32}) {
		t.Errorf("tensor 22 is %s %v, want stages.0.0.grn.gamma [1 1 1 32]", grn.Name, grn.Shape)
	}
	if last.Name != "head.bias" || !slices.Equal(last.Shape, []int{10}) {
		t.Errorf("last tensor %s %v", last.Name, last.Shape)
	}
}

// TestReadProtocol4 reads a protocol-4 pickle (STACK_GLOBAL, MEMOIZE,
// FRAME) with a strided view and float16/float64 storages.
func TestReadProtocol4(t *testing.T) {
	ts, err := Read(filepath.Join(testdata, "tiny_proto4.pt"), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"w": {0, .25, .5, .75, 1, 1.25},
		"t": {0, .75, .25, 1, .5, 1.25}, // w.t(), gathered through strides (1, 3)
		"h": {0.5, -2, 65504},
		"d": {float32(1.0 / 3), -1e-3},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d tensors, want %d", len(ts), len(want))
	}
	for _, tn := range ts {
		if !slices.Equal(tn.Data, want[tn.Name]) {
			t.Errorf("%s = %v, want %v", tn.Name, tn.Data, want[tn.Name])
		}
	}
	if !slices.Equal(ts[1].Shape, []int{3, 2}) {
		t.Errorf("t has shape %v, want [3 2]", ts[1].Shape)
	}
}

// TestRefusesCode checks that pickles naming anything outside the
// tensor-rebuild set are refused before anything runs: os.system through
// GLOBAL (protocol 2) and through STACK_GLOBAL (protocol 4), builtins.eval
// reached through the memo, and the INST opcode. Each would create marker
// if executed.
func TestRefusesCode(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := "touch " + marker
	cases := map[string]string{
		"GLOBAL os.system":          "\x80\x02cos\nsystem\nq\x00" + binunicode(cmd) + "\x85R.",
		"STACK_GLOBAL posix.system": "\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93" + binunicode(cmd) + "\x85R.",
		"STACK_GLOBAL via memo": "\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94(h\x00h\x01\x93" +
			binunicode("__import__('os').system('"+cmd+"')") + "\x85R.",
		"STACK_GLOBAL untraceable": "\x80\x04\x8c\x08builtins\x8c\x04eval\x86\x94\x8c\x01x\x93.",
		"INST":                     "(" + binunicode(cmd) + "ios\nsystem\n.",
		"collections + os":         "\x80\x02ccollections\nOrderedDict\n)Rcos\nsystem\n.",
	}
	for name, pkl := range cases {
		t.Run(name, func(t *testing.T) {
			path := writePT(t, map[string][]byte{"a/data.pkl": []byte(pkl)})
			_, err := Read(path, DefaultLimits())
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("err = %v, want ErrUnsafe", err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the pickle's command ran")
			}
			t.Log(err)
		})
	}
}

// TestBadFiles checks the errors for a missing file, a truncated .pt, a
// file that is not a zip, a pickle that is not a state dict, a storage
// shorter than the pickle says, announced sizes beyond the file or the
// limits, and a torch.save file holding something else than tensors.
func TestBadFiles(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testdata, "official_small.pt"))
	if err != nil {
		t.Fatal(err)
	}
	entries := unzip(t, orig)
	shortStorage := clone(entries)
	shortStorage["official_small/data/0"] = shortStorage["official_small/data/0"][:100]
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want string
		lim              Limits
	}{
		{"missing", filepath.Join(dir, "nope.pt"), "no such file", DefaultLimits()},
		{"truncated", write("trunc.pt", orig[:len(orig)/2]), "not a PyTorch zip checkpoint", DefaultLimits()},
		{"legacy", write("legacy.pt", []byte("\x80\x02\x8a\x0alp\xfc\x9cF\xf9 j\xa8P\x19.")), "legacy", DefaultLimits()},
		{"no data.pkl", writePT(t, map[string][]byte{"a/version": []byte("3\n")}), "without <name>/data.pkl", DefaultLimits()},
		{"not a dict", writePT(t, map[string][]byte{"a/data.pkl": []byte("\x80\x02K\x05.")}), "not a state dict", DefaultLimits()},
		{"no model key", writePT(t, map[string][]byte{"a/data.pkl": []byte("\x80\x02}" + binunicode("epoch") + "K\x03s.")}), `no "model"`, DefaultLimits()},
		{"truncated pickle", writePT(t, map[string][]byte{"a/data.pkl": []byte("\x80\x02}X\xff\xff\xff\x7fab")}), "announces 2147483647 bytes", DefaultLimits()},
		{"short storage", writePT(t, shortStorage), "storage 0 holds 100 bytes, the pickle says 1536", DefaultLimits()},
		{"storage limit", filepath.Join(testdata, "official_small.pt"), "Limits.MaxBytes", Limits{MaxEntries: 100, MaxPickle: 1 << 20, MaxBytes: 1000, MaxDims: 8}},
		{"pickle limit", filepath.Join(testdata, "official_small.pt"), "more than the 100 allowed", Limits{MaxEntries: 100, MaxPickle: 100, MaxBytes: 1 << 30, MaxDims: 8}},
		{"entry limit", filepath.Join(testdata, "official_small.pt"), "zip entries", Limits{MaxEntries: 3, MaxPickle: 1 << 20, MaxBytes: 1 << 30, MaxDims: 8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(c.path, c.lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if c.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err does not wrap fs.ErrNotExist")
			}
		})
	}
}

// TestScanBounds checks that no announced length beyond the pickle's bytes
// passes the scan, whichever counted opcode announces it.
func TestScanBounds(t *testing.T) {
	for _, p := range []string{
		"\x80\x02X\x00\x00\x00\x80.",                    // BINUNICODE 2 GiB
		"\x80\x04\x8d\x00\x00\x00\x00\x01\x00\x00\x00.", // BINUNICODE8 4 GiB
		"\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00.", // FRAME 4 GiB
		"\x80\x02\x8b\x00\x00\x00\x10.",                 // LONG4 256 MiB
		"\x80\x02K",                                     // truncated argument
		"\x80\x02N",                                     // no STOP
	} {
		if err := scan([]byte(p)); err == nil {
			t.Errorf("scan(%q) accepted it", p)
		}
	}
}

func binunicode(s string) string {
	n := len(s)
	return "X" + string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) + s
}

// writePT writes a zip of the given entries to a temporary .pt file.
func writePT(t *testing.T, entries map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			_, err = w.Write(b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "*.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func clone(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
