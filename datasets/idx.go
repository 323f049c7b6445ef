package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// IDX element type codes (LeCun et al., "THE MNIST DATABASE of handwritten
// digits", section "FILE FORMATS FOR THE MNIST DATABASE"). Only unsigned
// bytes are used by MNIST and Fashion-MNIST.
const idxUint8 = 0x08

// maxIDXBytes bounds the data size an IDX header may announce (4 GiB), so
// that a corrupt header cannot make the reader allocate absurd amounts.
const maxIDXBytes = 1 << 32

// openMaybeGzip opens path and, if its first two bytes are the gzip magic
// 1f 8b, returns a decompressing reader; the extension is not consulted.
// The returned closer closes the file.
func openMaybeGzip(path string) (io.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("datasets: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("datasets: %s: gzip header: %v: %w", path, err, ErrFormat)
		}
		return zr, f, nil
	}
	return br, f, nil
}

// ReadIDX reads an IDX file of unsigned bytes (raw or gzip-compressed,
// detected from the content) and returns its dimensions, outermost first,
// and its data in row-major order. MNIST's image files are 3-D
// [count, rows, cols] with magic 0x00000803, its label files 1-D [count]
// with magic 0x00000801. Errors name path and wrap [ErrFormat] for a wrong
// magic number, an unsupported element type, a zero dimension, a truncated
// file or trailing bytes; a missing file gives the os error.
func ReadIDX(path string) (dims []int, data []uint8, err error) {
	r, c, err := openMaybeGzip(path)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("datasets: %s: %s: %w", path, fmt.Sprintf(format, args...), ErrFormat)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, bad("IDX header: %v (file shorter than 4 bytes)", readErr(err))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if hdr[0] != 0 || hdr[1] != 0 || hdr[3] == 0 {
		return nil, nil, bad("bad IDX magic 0x%08x, want 0x000008NN (NN = number of dimensions)", magic)
	}
	if hdr[2] != idxUint8 {
		return nil, nil, bad("IDX element type 0x%02x (magic 0x%08x) not supported, want 0x08 (unsigned byte)", hdr[2], magic)
	}
	nd := int(hdr[3])
	dimBytes := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return nil, nil, bad("truncated IDX header: %d dimensions announced: %v", nd, readErr(err))
	}
	size := uint64(1)
	dims = make([]int, nd)
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d == 0 {
			return nil, nil, bad("IDX dimension %d is 0", i)
		}
		dims[i] = int(d)
		size *= uint64(d)
		if size > maxIDXBytes {
			return nil, nil, bad("IDX dimensions %v announce more than %d bytes", dims[:i+1], uint64(maxIDXBytes))
		}
	}
	data = make([]uint8, size)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, nil, bad("truncated: %d of %d data bytes for dimensions %v: %v", n, size, dims, readErr(err))
	}
	var one [1]byte
	if n, err := r.Read(one[:]); n > 0 {
		return nil, nil, bad("trailing bytes after the %d data bytes of dimensions %v", size, dims)
	} else if err != nil && err != io.EOF {
		return nil, nil, bad("%v", err)
	}
	return dims, data, nil
}

// readErr turns io.EOF into io.ErrUnexpectedEOF: every EOF a reader sees
// before it has what the header announced is a truncation.
func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// LoadIDX reads an MNIST-style pair of IDX files, images [count, rows, cols]
// and labels [count], into a Memory dataset. info supplies the name, class
// names and statistics; its H and W are set from the file. Errors name the
// offending file: wrong number of dimensions, image/label count mismatch,
// labels outside [0, len(info.Classes)) (wrapping [ErrLabel]), plus those of
// [ReadIDX].
func LoadIDX(imagesPath, labelsPath string, info Info) (*Memory, error) {
	dims, pix, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("datasets: %s: IDX images have dimensions %v, want 3 (count, rows, cols; magic 0x00000803): %w",
			imagesPath, dims, ErrFormat)
	}
	ldims, labels, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(ldims) != 1 {
		return nil, fmt.Errorf("datasets: %s: IDX labels have dimensions %v, want 1 (count; magic 0x00000801): %w",
			labelsPath, ldims, ErrFormat)
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("datasets: %s holds %d labels but %s holds %d images: %w",
			labelsPath, ldims[0], imagesPath, dims[0], ErrFormat)
	}
	for i, l := range labels {
		if int(l) >= len(info.Classes) {
			return nil, fmt.Errorf("datasets: %s: label %d of sample %d is out of range [0, %d): %w",
				labelsPath, l, i, len(info.Classes), ErrLabel)
		}
	}
	info.H, info.W, info.C = dims[1], dims[2], 1
	return NewMemory(info, pix, labels)
}

// DefaultFashionMNISTDir is where Debian's Fashion-MNIST package installs
// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// LoadFashionMNIST reads split of Fashion-MNIST from dir, which holds the
// four files of zalandoresearch/fashion-mnist under their original names
// (train-images-idx3-ubyte.gz …, gzip or not). The result is 28×28×1 with
// [FashionMNISTInfo] metadata.
func LoadFashionMNIST(dir string, split Split) (*Memory, error) {
	return loadMNISTLike(dir, split, FashionMNISTInfo())
}

// LoadMNIST reads split of MNIST from dir (same file names as
// [LoadFashionMNIST]). The result is 28×28×1 with [MNISTInfo] metadata.
func LoadMNIST(dir string, split Split) (*Memory, error) {
	return loadMNISTLike(dir, split, MNISTInfo())
}

func loadMNISTLike(dir string, split Split, info Info) (*Memory, error) {
	prefix := "train"
	if split == Test {
		prefix = "t10k"
	}
	images, err := findFile(dir, prefix+"-images-idx3-ubyte", prefix+"-images.idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := findFile(dir, prefix+"-labels-idx1-ubyte", prefix+"-labels.idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return LoadIDX(images, labels, info)
}

// findFile returns the first of dir/name.gz, dir/name for each name that
// exists, or an error wrapping fs.ErrNotExist that lists what was tried.
func findFile(dir string, names ...string) (string, error) {
	var tried []string
	for _, n := range names {
		for _, cand := range []string{n + ".gz", n} {
			p := filepath.Join(dir, cand)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("datasets: %w", err)
			}
			tried = append(tried, p)
		}
	}
	return "", fmt.Errorf("datasets: none of %v exists: %w", tried, fs.ErrNotExist)
}
