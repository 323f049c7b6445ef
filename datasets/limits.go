package datasets

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
)

// DefaultMaxPixels is the default pixel budget of one decoded ImageFolder
// image (width·height, before and after resizing): 89,478,485, Pillow's
// Image.MAX_IMAGE_PIXELS (1 GiB / 4 bytes per pixel / 3). Decoding such an
// image takes at most 8 bytes per pixel (16-bit RGBA PNG), about 716 MB.
const DefaultMaxPixels = 89_478_485

// MaxFileBytes bounds the data one IDX file or one CIFAR batch may hold, in
// bytes after decompression (default 1 GiB; the largest MNIST-style and
// CIFAR files hold 550 MB and 154 MB). A header announcing more is refused
// before anything is allocated, with an error wrapping [ErrLimit]. Raise it
// before loading for a larger real file.
var MaxFileBytes int64 = 1 << 30

// maxDeflateRatio is the largest expansion DEFLATE can achieve: a
// length/distance pair of at least two bits yields at most 258 bytes, so
// one input byte yields at most 1032 (zlib's "Maximum Compression Factor"
// in its technical details). A gzip file of n bytes therefore holds at most
// n·1032 bytes of data, whatever its header or ISIZE trailer says.
const maxDeflateRatio = 1032

// readChunk is the most a reader allocates before the stream has
// delivered any data; buffers then double as bytes arrive.
const readChunk = 1 << 20

// openSized opens path for reading and returns its size in bytes.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("datasets: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("datasets: %w", err)
	}
	return f, st.Size(), nil
}

// maybeGunzip returns a reader of r's data, decompressed if it starts with
// the gzip magic 1f 8b (the file name is not consulted), and the most bytes
// that data can hold: size for a plain stream of size bytes, size·1032 for
// a gzip one (gz true). name is used in errors.
func maybeGunzip(r io.Reader, size int64, name string) (_ io.Reader, bound int64, gz bool, _ error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, size, false, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, 0, true, fmt.Errorf("datasets: %s: gzip header: %v: %w", name, err, ErrFormat)
	}
	return zr, mulSat(size, maxDeflateRatio), true, nil
}

// mulSat returns a·b for non-negative a and b, or math.MaxInt64 when that
// overflows.
func mulSat(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// checkAnnounced returns an error naming name when a header announces n
// data bytes (what, e.g. "IDX dimensions [2 3]") that exceed MaxFileBytes
// ([ErrLimit]) or bound, the most the file can hold ([ErrFormat]; gzip
// says whether bound comes from the DEFLATE ratio or from the file size).
func checkAnnounced(name, what string, n, bound int64, gzip bool) error {
	if n > MaxFileBytes {
		return fmt.Errorf("datasets: %s: %s announce %d bytes, more than the limit of %d (datasets.MaxFileBytes): %w",
			name, what, n, MaxFileBytes, ErrLimit)
	}
	if n > bound && gzip {
		return fmt.Errorf("datasets: %s: %s announce %d bytes, more than a gzip file of this size can hold (%d at DEFLATE's 1032:1 at most): %w",
			name, what, n, bound, ErrFormat)
	}
	if n > bound {
		return fmt.Errorf("datasets: %s: truncated: the file holds %d of the %d data bytes %s announce: %w", name, max(bound, 0), n, what, ErrFormat)
	}
	return nil
}

// readAtMost reads exactly n bytes from r without allocating n up front:
// the buffer starts at readChunk bytes at most and doubles as data
// arrives, so a header that announces more than the stream holds costs
// what the stream holds. On a short stream it returns what it read and
// io.ErrUnexpectedEOF.
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF && int64(len(buf)) == n {
			break
		}
		if err != nil {
			return buf, readErr(err)
		}
	}
	return buf, nil
}

// readErr turns io.EOF into io.ErrUnexpectedEOF: every EOF a reader sees
// before it has what the header announced is a truncation.
func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
