package datasets

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func tinyIDX(t *testing.T, dir string, gz bool) (images, labels string) {
	t.Helper()
	pix := make([]byte, 5*4*3)
	for i := range pix {
		pix[i] = byte(i * 3)
	}
	img := idxBytes([]int{5, 4, 3}, pix)
	lab := idxBytes([]int{5}, []byte{3, 0, 9, 1, 1})
	images, labels = filepath.Join(dir, "img-idx3-ubyte"), filepath.Join(dir, "lab-idx1-ubyte")
	if gz {
		img, lab = gzipBytes(t, img), gzipBytes(t, lab)
		images, labels = images+".gz", labels+".gz"
	}
	writeFile(t, images, img)
	writeFile(t, labels, lab)
	return images, labels
}

func TestLoadIDXRawAndGzip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		imgs, labs := tinyIDX(t, t.TempDir(), gz)
		d, err := LoadIDX(imgs, labs, MNISTInfo())
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		if d.Len() != 5 || d.Info().H != 4 || d.Info().W != 3 || d.Info().C != 1 {
			t.Fatalf("gzip %v: len %d info %+v", gz, d.Len(), d.Info())
		}
		if got := []int{d.Label(0), d.Label(1), d.Label(2), d.Label(3), d.Label(4)}; got[0] != 3 || got[2] != 9 || got[4] != 1 {
			t.Errorf("labels %v, want [3 0 9 1 1]", got)
		}
		im, err := d.Image(2, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Image 2, row 1, col 2 is byte 2*12 + 1*3 + 2 = 29 of the data.
		if v := im.Pix[1*3+2]; v != byte(29*3) {
			t.Errorf("image 2 (1,2) = %d, want %d", v, 29*3)
		}
		if _, err := d.Image(5, nil); err == nil {
			t.Error("Image(5) of 5 samples: no error")
		}
	}
}

func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes([]int{2, 2, 2}, make([]byte, 8))
	goodLab := writeFile(t, filepath.Join(dir, "good-labels"), idxBytes([]int{2}, []byte{1, 2}))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{0, 0}, "shorter than 4 bytes"},
		{"magic", append([]byte{1, 2}, good[2:]...), "bad IDX magic 0x01020803"},
		{"type", append([]byte{0, 0, 0x0d, 3}, good[4:]...), "element type 0x0d"},
		{"zero-dim", idxBytes([]int{2, 0, 2}, nil), "dimension 1 is 0"},
		{"truncated-header", good[:9], "truncated IDX header"},
		{"truncated-data", good[:len(good)-3], "truncated: the file holds 5 of the 8 data bytes"},
		{"trailing", append(append([]byte{}, good...), 7), "trailing bytes"},
		{"truncated-gzip", gzipBytes(t, good)[:20], "truncated"},
		{"1-d-images", idxBytes([]int{8}, make([]byte, 8)), "want 3 (count, rows, cols"},
	}
	for _, c := range cases {
		p := writeFile(t, filepath.Join(dir, c.name), c.data)
		_, err := LoadIDX(p, goodLab, MNISTInfo())
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q: want ErrFormat naming %s and saying %q", c.name, err, p, c.want)
		}
	}

	imgs := writeFile(t, filepath.Join(dir, "imgs"), good)
	// Count mismatch.
	three := writeFile(t, filepath.Join(dir, "three-labels"), idxBytes([]int{3}, []byte{1, 2, 3}))
	if _, err := LoadIDX(imgs, three, MNISTInfo()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "holds 3 labels but") {
		t.Errorf("count mismatch: %v", err)
	}
	// Label out of range.
	bad := writeFile(t, filepath.Join(dir, "bad-labels"), idxBytes([]int{2}, []byte{1, 10}))
	if _, err := LoadIDX(imgs, bad, MNISTInfo()); !errors.Is(err, ErrLabel) || !strings.Contains(err.Error(), bad) ||
		!strings.Contains(err.Error(), "label 10 of sample 1") {
		t.Errorf("label range: %v", err)
	}
	// Missing files.
	missing := filepath.Join(dir, "nope")
	if _, err := LoadIDX(missing, goodLab, MNISTInfo()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	if _, err := LoadFashionMNIST(dir, Train); !errors.Is(err, fs.ErrNotExist) ||
		!strings.Contains(err.Error(), filepath.Join(dir, "train-images-idx3-ubyte.gz")) {
		t.Errorf("missing Fashion-MNIST: %v", err)
	}
}

func TestLoadMNISTFileNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), idxBytes([]int{1, 28, 28}, make([]byte, 784)))
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), gzipBytes(t, idxBytes([]int{1}, []byte{7})))
	d, err := LoadMNIST(dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 1 || d.Label(0) != 7 || d.Info().Name != "MNIST" {
		t.Errorf("len %d label %d info %+v", d.Len(), d.Label(0), d.Info())
	}
}
