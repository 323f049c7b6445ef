package datasets

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// The fuzz targets below run their seed corpora (testdata/fuzz/FuzzXxx)
// under plain go test; `go test -fuzz=FuzzXxx ./datasets` explores
// further. Each holds the readers to the same contract: any input gives
// either a consistent result or an error wrapping ErrFormat, ErrLabel or
// ErrLimit that names the file, and the reader allocates a bounded amount
// whatever the input announces.

// fuzzMaxFileBytes replaces MaxFileBytes while fuzzing, so that the
// allocation bound below stays small.
const fuzzMaxFileBytes = 8 << 20

// fuzzAlloc bounds what one fuzzed read may allocate: the incremental
// buffer at most doubles past fuzzMaxFileBytes, plus the gzip and tar
// readers' own state.
const fuzzAlloc = 4*fuzzMaxFileBytes + 4<<20

// limitFileBytes sets MaxFileBytes to fuzzMaxFileBytes for the duration
// of a fuzz target.
func limitFileBytes(f *testing.F) {
	old := MaxFileBytes
	MaxFileBytes = fuzzMaxFileBytes
	f.Cleanup(func() { MaxFileBytes = old })
}

// checkFuzzErr fails t unless err wraps one of the package's sentinel
// errors and names name, and alloc is within limit.
func checkFuzzErr(t *testing.T, err error, name string, alloc, limit uint64) {
	t.Helper()
	if alloc > limit {
		t.Fatalf("allocated %d bytes, want at most %d (err %v)", alloc, limit, err)
	}
	if err == nil {
		return
	}
	if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrLabel) && !errors.Is(err, ErrLimit) {
		t.Fatalf("error %v wraps none of ErrFormat, ErrLabel, ErrLimit", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("error %v does not name %s", err, name)
	}
}

func FuzzReadIDX(f *testing.F) {
	limitFileBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var dims []int
		var pix []uint8
		var err error
		n := testutil.Allocated(func() { dims, pix, err = readIDX(bytes.NewReader(data), int64(len(data)), "fuzz.idx") })
		checkFuzzErr(t, err, "fuzz.idx", n, fuzzAlloc)
		if err != nil {
			return
		}
		size := 1
		for _, d := range dims {
			if d <= 0 {
				t.Fatalf("dimensions %v", dims)
			}
			size *= d
		}
		if len(dims) == 0 || size != len(pix) {
			t.Fatalf("dimensions %v with %d data bytes", dims, len(pix))
		}
	})
}

// checkCIFAR fails t unless recs is consistent: 3072 pixels per record,
// labels in range.
func checkCIFAR(t *testing.T, recs *CIFARRecords, hundred bool) {
	t.Helper()
	classes := map[bool]uint8{false: 10, true: 100}[hundred]
	if len(recs.Pix) != recs.Len()*cifarPixels || recs.Len() == 0 || (recs.Coarse != nil) != hundred {
		t.Fatalf("%d records, %d pixels, coarse %v", recs.Len(), len(recs.Pix), recs.Coarse != nil)
	}
	for i, l := range recs.Labels {
		if l >= classes || (hundred && recs.Coarse[i] >= 20) {
			t.Fatalf("record %d: label %d", i, l)
		}
	}
}

// FuzzReadCIFAR builds a CIFAR batch from compact parts, so that inputs
// stay small enough for the fuzzer to minimize: labels holds the label
// byte(s) of each record (one, or coarse and fine when hundred), whose
// pixels are cifarPixel's pattern, and tail is appended (a ragged size).
// Pixels never steer the reader, so nothing is lost; on success they must
// come back in HWC order.
func FuzzReadCIFAR(f *testing.F) {
	limitFileBytes(f)
	f.Fuzz(func(t *testing.T, labels, tail []byte, hundred bool) {
		lb := cifarRecord(hundred) - cifarPixels
		records := min(len(labels)/lb, 64)
		var file []byte
		for r := range records {
			file = append(file, labels[r*lb:(r+1)*lb]...)
			for c := range 3 {
				for y := range cifarSide {
					for x := range cifarSide {
						file = append(file, cifarPixel(r, c, y, x))
					}
				}
			}
		}
		file = append(file, tail...)
		var recs *CIFARRecords
		var err error
		n := testutil.Allocated(func() { recs, err = ReadCIFARBinary(bytes.NewReader(file), "fuzz.bin", hundred) })
		checkFuzzErr(t, err, "fuzz.bin", n, fuzzAlloc+4*uint64(len(file)))
		if err != nil {
			return
		}
		checkCIFAR(t, recs, hundred)
		if recs.Len() != records || len(tail) != 0 {
			t.Fatalf("%d records from %d records and %d more bytes", recs.Len(), records, len(tail))
		}
		for r := range records {
			for _, at := range [][3]int{{0, 0, 0}, {2, 31, 31}, {1, 5, 17}} {
				c, y, x := at[0], at[1], at[2]
				if got := recs.Pix[r*cifarPixels+(y*cifarSide+x)*3+c]; got != cifarPixel(r, c, y, x) {
					t.Fatalf("record %d channel %d (%d, %d) = %d, want %d", r, c, y, x, got, cifarPixel(r, c, y, x))
				}
			}
		}
	})
}

func FuzzReadCIFARArchive(f *testing.F) {
	limitFileBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs *CIFARRecords
		var err error
		n := testutil.Allocated(func() {
			recs, err = readCIFARTar(bytes.NewReader(data), int64(len(data)), "fuzz.tar.gz", cifar10Spec.test, cifar10Spec)
		})
		checkFuzzErr(t, err, "fuzz.tar.gz", n, fuzzAlloc)
		if err == nil {
			checkCIFAR(t, recs, false)
		}
	})
}

// fuzzMaxPixels is the pixel budget of FuzzDecodeImage.
const fuzzMaxPixels = 1 << 16

func FuzzDecodeImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var m image.Image
		var err error
		n := testutil.Allocated(func() {
			if m, err = decodeImage(bytes.NewReader(data), "fuzz.img", fuzzMaxPixels); err == nil {
				var dst Image
				toHWC(&dst, m, 3)
			}
		})
		// 8 bytes per pixel for 16-bit RGBA, 3 for the HWC copy, plus
		// the decoders' tables.
		checkFuzzErr(t, err, "fuzz.img", n, 16*fuzzMaxPixels+4<<20)
		if err == nil {
			if b := m.Bounds(); b.Empty() || int64(b.Dx())*int64(b.Dy()) > fuzzMaxPixels {
				t.Fatalf("decoded %v, budget %d pixels", b, fuzzMaxPixels)
			}
		}
	})
}

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite the seed corpora in testdata/fuzz")

// TestWriteFuzzSeeds rewrites testdata/fuzz/Fuzz*/ from the helpers that
// build the other tests' files: go test ./datasets -run
// TestWriteFuzzSeeds -write-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeFuzzSeeds {
		t.Skip("run with -write-fuzz-seeds to rewrite testdata/fuzz")
	}
	zeroBatch := make([]byte, 2*(1+cifarPixels)) // two records of label 0, black
	var pngImg, pngGray, jpg bytes.Buffer
	png.Encode(&pngImg, rgbTestImage(5, 3))
	png.Encode(&pngGray, image.NewGray16(image.Rect(0, 0, 2, 7)))
	jpeg.Encode(&jpg, rgbTestImage(9, 4), &jpeg.Options{Quality: 50})
	seeds := map[string][]struct {
		name string
		args []any
	}{
		"FuzzReadIDX": {
			{"raw-3d", []any{idxBytes([]int{2, 3, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})}},
			{"gzip-1d", []any{gzipBytes(t, idxBytes([]int{3}, []byte{7, 8, 9}))}},
			{"truncated", []any{idxBytes([]int{2, 2, 2}, make([]byte, 5))}},
			{"gzip-4GiB-header", []any{gzipBytes(t, idxBytes([]int{16, 4096, 65536}, nil))}},
			{"gzip-over-ratio", []any{gzipBytes(t, idxBytes([]int{1000, 512, 512}, make([]byte, 64)))}},
			{"no-dimensions", []any{[]byte{0, 0, 8, 0}}},
		},
		"FuzzReadCIFAR": {
			{"cifar10", []any{[]byte{3, 9}, []byte{}, false}},
			{"cifar100", []any{[]byte{19, 99, 0, 5}, []byte{}, true}},
			{"ragged", []any{[]byte{1}, []byte{7, 7, 7}, false}},
			{"label-10", []any{[]byte{2, 10}, []byte{}, false}},
		},
		"FuzzReadCIFARArchive": {
			{"tiny-cifar10", []any{tarGz(t, map[string][]byte{"cifar-10-batches-bin/test_batch.bin": zeroBatch}, []string{"cifar-10-batches-bin/test_batch.bin"})}},
			{"over-ratio", []any{cifarTar(t, 300_000*(1+cifarPixels), nil, true)}},
			{"plain-tar-short", []any{cifarTar(t, 2*(1+cifarPixels), make([]byte, 100), false)}},
		},
		"FuzzDecodeImage": {
			{"png-rgba", []any{pngImg.Bytes()}},
			{"png-gray16", []any{pngGray.Bytes()}},
			{"jpeg", []any{jpg.Bytes()}},
			{"png-100000x100000", []any{pngHeader(100_000, 100_000)}},
			{"jpeg-65500x65500", []any{jpegHeader(65_500, 65_500)}},
		},
	}
	for target, entries := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range e.args {
				switch a := a.(type) {
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", a)
				case bool:
					fmt.Fprintf(&b, "bool(%v)\n", a)
				}
			}
			writeFile(t, filepath.Join(dir, e.name), []byte(b.String()))
		}
	}
}
