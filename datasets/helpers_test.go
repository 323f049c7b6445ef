package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// idxBytes encodes an IDX file of unsigned bytes with the given
// dimensions.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, idxUint8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cifarPixel is the value the hand-built CIFAR files store for record r,
// channel c, row y, column x.
func cifarPixel(r, c, y, x int) uint8 { return uint8(r*7 + c*85 + y*3 + x) }

// cifarFile builds n CIFAR records (CIFAR-100 layout when hundred) whose
// labels come from label(r) (fine) and coarse(r).
func cifarFile(n int, hundred bool, first int, label, coarse func(r int) byte) []byte {
	var b bytes.Buffer
	for r := first; r < first+n; r++ {
		if hundred {
			b.WriteByte(coarse(r))
		}
		b.WriteByte(label(r))
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					b.WriteByte(cifarPixel(r, c, y, x))
				}
			}
		}
	}
	return b.Bytes()
}

// tarGz packs name → content into a .tar.gz.
func tarGz(t testing.TB, files map[string][]byte, order []string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyCIFAR10 returns the files of a CIFAR-10 binary set with 2 records per
// training batch and 3 test records; label of record r is r % 10.
func tinyCIFAR10() (map[string][]byte, []string) {
	files := map[string][]byte{}
	var order []string
	lab := func(r int) byte { return byte(r % 10) }
	for i := 1; i <= 5; i++ {
		name := "cifar-10-batches-bin/data_batch_" + string(rune('0'+i)) + ".bin"
		files[name] = cifarFile(2, false, 2*(i-1), lab, nil)
		order = append(order, name)
	}
	files["cifar-10-batches-bin/test_batch.bin"] = cifarFile(3, false, 100, lab, nil)
	files["cifar-10-batches-bin/batches.meta.txt"] = []byte("airplane\nautomobile\n")
	// Test batch first in the archive: the reader must not rely on order.
	order = append([]string{"cifar-10-batches-bin/test_batch.bin", "cifar-10-batches-bin/batches.meta.txt"}, order...)
	return files, order
}
