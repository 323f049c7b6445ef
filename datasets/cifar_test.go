package datasets

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func checkCIFARRecord(t *testing.T, d Dataset, i, record int) {
	t.Helper()
	im, err := d.Image(i, nil)
	if err != nil {
		t.Fatal(err)
	}
	if im.H != 32 || im.W != 32 || im.C != 3 {
		t.Fatalf("sample %d is %v", i, im)
	}
	for _, p := range [][2]int{{0, 0}, {5, 17}, {31, 31}} {
		y, x := p[0], p[1]
		for c := range 3 {
			if got, want := im.Pix[(y*32+x)*3+c], cifarPixel(record, c, y, x); got != want {
				t.Errorf("sample %d (%d,%d) channel %d = %d, want %d (planar RGB → HWC)", i, y, x, c, got, want)
			}
		}
	}
}

func TestLoadCIFAR10DirAndArchive(t *testing.T) {
	files, order := tinyCIFAR10()
	root := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(root, "extracted", name), data)
	}
	archive := writeFile(t, filepath.Join(root, "archive", "cifar-10-binary.tar.gz"), tarGz(t, files, order))
	for _, path := range []string{
		filepath.Join(root, "extracted", "cifar-10-batches-bin"), // the batch folder
		filepath.Join(root, "extracted"),                         // its parent
		archive,                                                  // the archive
		filepath.Join(root, "archive"),                           // a folder holding it
	} {
		train, err := LoadCIFAR10(path, Train)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if train.Len() != 10 || train.Info().NumClasses() != 10 {
			t.Fatalf("%s: %d train samples", path, train.Len())
		}
		for i := range 10 {
			if train.Label(i) != i%10 {
				t.Errorf("%s: label[%d] = %d", path, i, train.Label(i))
			}
		}
		checkCIFARRecord(t, train, 7, 7) // data_batch_4.bin, record 1
		test, err := LoadCIFAR10(path, Test)
		if err != nil {
			t.Fatal(err)
		}
		if test.Len() != 3 || test.Label(2) != 2 {
			t.Errorf("%s: test len %d label %d", path, test.Len(), test.Label(2))
		}
		checkCIFARRecord(t, test, 1, 101)
	}
}

func TestLoadCIFAR100FineCoarse(t *testing.T) {
	fine := func(r int) byte { return byte(99 - r) }
	coarse := func(r int) byte { return byte(r % 20) }
	files := map[string][]byte{
		"cifar-100-binary/train.bin": cifarFile(4, true, 0, fine, coarse),
		"cifar-100-binary/test.bin":  cifarFile(2, true, 50, fine, coarse),
	}
	archive := writeFile(t, filepath.Join(t.TempDir(), "c100.tar.gz"), tarGz(t, files, []string{"cifar-100-binary/train.bin", "cifar-100-binary/test.bin"}))
	d, err := LoadCIFAR100(archive, Train, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Label(3) != 96 || d.Info().NumClasses() != 100 {
		t.Errorf("fine: len %d label %d classes %d", d.Len(), d.Label(3), d.Info().NumClasses())
	}
	checkCIFARRecord(t, d, 2, 2)
	c, err := LoadCIFAR100(archive, Test, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 || c.Label(1) != 51%20 || c.Info().NumClasses() != 20 {
		t.Errorf("coarse: len %d label %d classes %d", c.Len(), c.Label(1), c.Info().NumClasses())
	}
	if CIFAR100Classes[99] != "worm" || len(CIFAR100Classes) != 100 || len(CIFAR100CoarseClasses) != 20 {
		t.Error("CIFAR-100 class lists are wrong")
	}
	for i := 1; i < len(CIFAR100Classes); i++ {
		if CIFAR100Classes[i-1] >= CIFAR100Classes[i] {
			t.Errorf("fine class names not sorted at %d (%s, %s)", i, CIFAR100Classes[i-1], CIFAR100Classes[i])
		}
	}
}

func TestCIFARErrors(t *testing.T) {
	dir := t.TempDir()
	lab := func(r int) byte { return byte(r % 10) }
	full := cifarFile(2, false, 0, lab, nil)
	trunc := writeFile(t, filepath.Join(dir, "trunc", "test_batch.bin"), full[:len(full)-100])
	if _, err := LoadCIFAR10(filepath.Dir(trunc), Test); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), trunc) ||
		!strings.Contains(err.Error(), "3073-byte") {
		t.Errorf("truncated: %v", err)
	}
	badLab := writeFile(t, filepath.Join(dir, "badlab", "test_batch.bin"), cifarFile(3, false, 0, func(r int) byte { return byte(8 + r) }, nil))
	if _, err := LoadCIFAR10(filepath.Dir(badLab), Test); !errors.Is(err, ErrLabel) || !strings.Contains(err.Error(), badLab) ||
		!strings.Contains(err.Error(), "record 2 has label 10") {
		t.Errorf("label out of range: %v", err)
	}
	badCoarse := writeFile(t, filepath.Join(dir, "badcoarse", "test.bin"), cifarFile(1, true, 0, lab, func(int) byte { return 20 }))
	if _, err := LoadCIFAR100(filepath.Dir(badCoarse), Test, false); !errors.Is(err, ErrLabel) || !strings.Contains(err.Error(), "coarse label 20") {
		t.Errorf("coarse label out of range: %v", err)
	}
	// Archive without the test batch.
	files, order := tinyCIFAR10()
	delete(files, "cifar-10-batches-bin/test_batch.bin")
	archive := writeFile(t, filepath.Join(dir, "partial.tar.gz"), tarGz(t, files, order[1:]))
	if _, err := LoadCIFAR10(archive, Test); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "lacks test_batch.bin") {
		t.Errorf("partial archive: %v", err)
	}
	// Corrupt archive.
	corrupt := writeFile(t, filepath.Join(dir, "corrupt.tar.gz"), gzipBytes(t, []byte("this is not a tar file at all"))[:25])
	if _, err := LoadCIFAR10(corrupt, Train); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt archive: %v", err)
	}
	// Missing paths.
	if _, err := LoadCIFAR10(filepath.Join(dir, "nope"), Train); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := LoadCIFAR10(dir, Train); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "cifar-10-binary.tar.gz") {
		t.Errorf("empty dir: %v", err)
	}
}
