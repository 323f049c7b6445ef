package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
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

// cifarTar is a tar archive (gzip-compressed when gz) holding a CIFAR-10
// test batch whose header announces size bytes, of which body is written.
func cifarTar(t testing.TB, size int64, body []byte, gz bool) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(&b)
	if gz {
		tw = tar.NewWriter(zw)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/test_batch.bin", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	tw.Flush() // reports the missing bytes; the truncation is the point
	if gz {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// pngHeader is a PNG file of a w×h 8-bit RGBA image whose IDAT holds a
// single empty deflate block: a valid header and nothing else.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		start := len(b)
		b = append(append(b, typ...), data...)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	chunk("IHDR", append(ihdr, 8, 6, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b
}

// jpegHeader is a baseline JPEG whose frame header (SOF0) announces a w×h
// YCbCr 4:2:0 image, followed by a scan header (SOS) and no scan data.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8}
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	return append(b, 0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0, 0xff, 0xd9)
}
