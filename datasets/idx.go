package datasets

import (
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

// ReadIDX reads an IDX file of unsigned bytes (raw or gzip-compressed,
// detected from the content) and returns its dimensions, outermost first,
// and its data in row-major order. MNIST's image files are 3-D
// [count, rows, cols] with magic 0x00000803, its label files 1-D [count]
// with magic 0x00000801. Errors name path and wrap [ErrFormat] for a wrong
// magic number, an unsupported element type, a zero dimension, a truncated
// file, trailing bytes or a data size the file cannot hold (more than its
// size, or 1032 times its size when gzip-compressed), and [ErrLimit] for
// more than [MaxFileBytes]; a missing file gives the os error. The data
// is read incrementally, so memory follows what the stream delivers, not
// what the header announces.
func ReadIDX(path string) (dims []int, data []uint8, err error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return readIDX(f, size, path)
}

// readIDX is [ReadIDX] on a stream of size bytes; name is used in errors.
func readIDX(f io.Reader, size int64, name string) (dims []int, data []uint8, err error) {
	r, bound, gz, err := maybeGunzip(f, size, name)
	if err != nil {
		return nil, nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("datasets: %s: %s: %w", name, fmt.Sprintf(format, args...), ErrFormat)
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
	n := int64(1)
	dims = make([]int, nd)
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d == 0 {
			return nil, nil, bad("IDX dimension %d is 0", i)
		}
		dims[i] = int(d)
		n = mulSat(n, int64(d))
	}
	if err := checkAnnounced(name, fmt.Sprintf("IDX dimensions %v", dims), n, bound-int64(4+4*nd), gz); err != nil {
		return nil, nil, err
	}
	data, err = readAtMost(r, n)
	if err != nil {
		return nil, nil, bad("truncated: %d of %d data bytes for dimensions %v: %v", len(data), n, dims, err)
	}
	var one [1]byte
	if m, err := r.Read(one[:]); m > 0 {
		return nil, nil, bad("trailing bytes after the %d data bytes of dimensions %v", n, dims)
	} else if err != nil && err != io.EOF {
		return nil, nil, bad("%v", err)
	}
	return dims, data, nil
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
