package datasets

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// bombGrowth is how far the address space of a bomb test's child may grow:
// far below what any bomb announces (256 MB to 40 GB), far above what a
// reader that checks before it allocates needs.
const bombGrowth = 768 << 20

// bombAlloc bounds what a reader may allocate on a bomb (the test's own
// files not counted).
const bombAlloc = 16 << 20

// bombCase is one hostile file and what the error must say.
type bombCase struct {
	name string
	data []byte
	want string
	is   error
}

// checkBomb writes c.data to dir and calls read on it, which must fail
// with c.is, naming the file and saying c.want, allocating under
// bombAlloc.
func checkBomb(t *testing.T, dir string, c bombCase, read func(path string) error) {
	t.Helper()
	p := writeFile(t, filepath.Join(dir, c.name), c.data)
	var err error
	n := testutil.Allocated(func() { err = read(p) })
	if !errors.Is(err, c.is) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
		t.Errorf("%s (%d bytes): error %v, want %v naming the file and saying %q", c.name, len(c.data), err, c.is, c.want)
	}
	if n > bombAlloc {
		t.Errorf("%s: the reader allocated %d MiB, want under %d MiB", c.name, n>>20, bombAlloc>>20)
	}
	t.Logf("%s: %d-byte file, %.1f MiB allocated: %v", c.name, len(c.data), float64(n)/(1<<20), err)
}

// incompressible returns n pseudo-random bytes, which gzip cannot shrink.
func incompressible(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// gzipBomb is the decompression bomb of issue 11: a 4 MB gzip file whose
// IDX header announces 16×4096×65536 bytes, and which really decompresses
// to 4 GiB (4096 concatenated gzip members of 1 MiB of zeros each follow
// the header's member).
func gzipBomb(t *testing.T) []byte {
	b := gzipBytes(t, idxBytes([]int{16, 4096, 65536}, nil))
	zeros := gzipBytes(t, make([]byte, 1<<20))
	return append(b, bytes.Repeat(zeros, 4096)...)
}

func TestIDXBombs(t *testing.T) {
	testutil.RunBounded(t, bombGrowth, func(t *testing.T) {
		dims := []int{1000, 512, 512} // 262 MB
		cases := []bombCase{
			{"gzip-4GiB", gzipBomb(t), "IDX dimensions [16 4096 65536] announce 4294967296 bytes, more than the limit of 1073741824", ErrLimit},
			{"gzip-over-ratio", gzipBytes(t, idxBytes(dims, make([]byte, 4096))), "more than a gzip file of this size can hold", ErrFormat},
			{"gzip-short-stream", gzipBytes(t, idxBytes(dims, incompressible(1<<20))), "truncated: 1048576 of 262144000 data bytes", ErrFormat},
			{"raw-short", idxBytes(dims, make([]byte, 100)), "truncated: the file holds 100 of the 262144000 data bytes", ErrFormat},
		}
		labels := writeFile(t, filepath.Join(t.TempDir(), "labels"), idxBytes([]int{1000}, make([]byte, 1000)))
		for _, c := range cases {
			checkBomb(t, t.TempDir(), c, func(p string) error {
				_, err := LoadIDX(p, labels, FashionMNISTInfo())
				return err
			})
		}
	})
}

func TestCIFARBombs(t *testing.T) {
	testutil.RunBounded(t, bombGrowth, func(t *testing.T) {
		const rec = 1 + cifarPixels
		cases := []bombCase{
			{"over-limit.tar.gz", cifarTar(t, 400_000*rec, nil, true), "announce 1229200000 bytes, more than the limit", ErrLimit},
			{"over-ratio.tar.gz", cifarTar(t, 300_000*rec, nil, true), "more than a gzip file of this size can hold", ErrFormat},
			{"short-stream.tar.gz", cifarTar(t, 100_000*rec, incompressible(1<<20), true), "truncated: 1048576 of 307300000 bytes", ErrFormat},
			{"short.tar", cifarTar(t, 300_000*rec, make([]byte, 100), false), "truncated: the file holds", ErrFormat},
			{"not-records.tar", cifarTar(t, 2*rec+1, make([]byte, 2*rec+1), false), "not a positive multiple of the 3073-byte", ErrFormat},
		}
		for _, c := range cases {
			checkBomb(t, t.TempDir(), c, func(p string) error {
				_, err := LoadCIFAR10(p, Test)
				return err
			})
		}
	})
}

func TestImageBombs(t *testing.T) {
	testutil.RunBounded(t, bombGrowth, func(t *testing.T) {
		cases := []bombCase{
			{"huge.png", pngHeader(100_000, 100_000), "header announces 100000×100000 = 10000000000 pixels, more than the budget of 89478485", ErrLimit},
			{"huge.jpg", jpegHeader(65_500, 65_500), "header announces 65500×65500 = 4290250000 pixels", ErrLimit},
			{"wide.png", pngHeader(1<<31-1, 1), "2147483647×1", ErrLimit},
		}
		for _, c := range cases {
			if len(c.data) > 100 {
				t.Fatalf("%s: %d bytes, want a header of at most 100", c.name, len(c.data))
			}
			root := t.TempDir()
			checkBomb(t, filepath.Join(root, "class"), c, func(string) error {
				_, err := LoadImageFolder(root, ImageFolderOptions{Preload: true})
				return err
			})
			checkBomb(t, filepath.Join(root, "class"), c, func(string) error {
				d, err := LoadImageFolder(root, ImageFolderOptions{})
				if err != nil {
					return err
				}
				_, err = d.Image(0, nil)
				return err
			})
		}
	})
}
