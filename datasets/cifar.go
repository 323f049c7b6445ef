package datasets

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// CIFAR binary layout (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary
// version"): each record is the label byte(s) followed by 3072 pixel bytes,
// the 1024 red values of the 32×32 image in row-major order, then the 1024
// green, then the 1024 blue. CIFAR-10 records have one label byte; CIFAR-100
// records have the coarse label, then the fine label.
const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide
)

// cifarSpec names the files of one CIFAR variant.
type cifarSpec struct {
	folder, archive string
	train, test     []string
	labelBytes      int
}

var (
	cifar10Spec = cifarSpec{
		folder: "cifar-10-batches-bin", archive: "cifar-10-binary.tar.gz",
		train:      []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:       []string{"test_batch.bin"},
		labelBytes: 1,
	}
	cifar100Spec = cifarSpec{
		folder: "cifar-100-binary", archive: "cifar-100-binary.tar.gz",
		train: []string{"train.bin"}, test: []string{"test.bin"},
		labelBytes: 2,
	}
)

// CIFARRecords holds decoded CIFAR records: Pix is N×32×32×3 HWC (converted
// from the file's planar RGB), Labels the CIFAR-10 label or CIFAR-100 fine
// label of each record, Coarse the CIFAR-100 coarse label (nil for
// CIFAR-10).
type CIFARRecords struct {
	Pix    []uint8
	Labels []uint8
	Coarse []uint8
}

// Len returns the number of records.
func (r *CIFARRecords) Len() int { return len(r.Labels) }

// ReadCIFARBinary decodes one CIFAR binary batch file read from r; name is
// used in errors. With hundred false the records are CIFAR-10's 3073 bytes
// (label, pixels), with hundred true CIFAR-100's 3074 bytes (coarse label,
// fine label, pixels). It returns an error wrapping [ErrFormat] for an
// empty input or one whose size is not a whole number of records,
// [ErrLimit] for more than [MaxFileBytes], and [ErrLabel] for a label ≥ 10
// (CIFAR-10), a fine label ≥ 100 or a coarse label ≥ 20 (CIFAR-100).
func ReadCIFARBinary(r io.Reader, name string, hundred bool) (*CIFARRecords, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %v: %w", name, err, ErrFormat)
	}
	if int64(len(raw)) > MaxFileBytes {
		return nil, fmt.Errorf("datasets: %s: more than %d bytes (datasets.MaxFileBytes): %w", name, MaxFileBytes, ErrLimit)
	}
	return decodeCIFAR(raw, name, hundred)
}

// readCIFARSized decodes a CIFAR batch of size bytes from r, checking size
// before reading anything: a positive multiple of the record size, at most
// bound (what the containing file can hold) and [MaxFileBytes].
func readCIFARSized(r io.Reader, size, bound int64, gz bool, name string, hundred bool) (*CIFARRecords, error) {
	if err := checkAnnounced(name, "CIFAR records", size, bound, gz); err != nil {
		return nil, err
	}
	if err := checkCIFARSize(size, name, hundred); err != nil {
		return nil, err
	}
	raw, err := readAtMost(r, size)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: truncated: %d of %d bytes: %v: %w", name, len(raw), size, err, ErrFormat)
	}
	return decodeCIFAR(raw, name, hundred)
}

// checkCIFARSize reports an error unless n is a positive multiple of the
// CIFAR record size.
func checkCIFARSize(n int64, name string, hundred bool) error {
	rec := int64(cifarRecord(hundred))
	if n <= 0 || n%rec != 0 {
		return fmt.Errorf("datasets: %s: %d bytes is not a positive multiple of the %d-byte CIFAR-%s record (truncated or not a CIFAR binary file): %w",
			name, n, rec, map[bool]string{false: "10", true: "100"}[hundred], ErrFormat)
	}
	return nil
}

// cifarRecord is the byte size of a CIFAR-10 or (hundred) CIFAR-100 record.
func cifarRecord(hundred bool) int {
	if hundred {
		return 2 + cifarPixels
	}
	return 1 + cifarPixels
}

func decodeCIFAR(raw []byte, name string, hundred bool) (*CIFARRecords, error) {
	if err := checkCIFARSize(int64(len(raw)), name, hundred); err != nil {
		return nil, err
	}
	rec := cifarRecord(hundred)
	lb := rec - cifarPixels
	n := len(raw) / rec
	out := &CIFARRecords{Pix: make([]uint8, n*cifarPixels), Labels: make([]uint8, n)}
	if hundred {
		out.Coarse = make([]uint8, n)
	}
	const plane = cifarSide * cifarSide
	for i := range n {
		b := raw[i*rec : (i+1)*rec]
		if hundred {
			out.Coarse[i], out.Labels[i] = b[0], b[1]
			if b[0] >= 20 {
				return nil, fmt.Errorf("datasets: %s: record %d has coarse label %d, want < 20: %w", name, i, b[0], ErrLabel)
			}
			if b[1] >= 100 {
				return nil, fmt.Errorf("datasets: %s: record %d has fine label %d, want < 100: %w", name, i, b[1], ErrLabel)
			}
		} else {
			out.Labels[i] = b[0]
			if b[0] >= 10 {
				return nil, fmt.Errorf("datasets: %s: record %d has label %d, want < 10: %w", name, i, b[0], ErrLabel)
			}
		}
		px := b[lb:]
		dst := out.Pix[i*cifarPixels : (i+1)*cifarPixels]
		for p := range plane {
			dst[3*p] = px[p]
			dst[3*p+1] = px[plane+p]
			dst[3*p+2] = px[2*plane+p]
		}
	}
	return out, nil
}

// LoadCIFAR10 reads split of CIFAR-10's binary version from path, which is
// either the official archive cifar-10-binary.tar.gz (read directly, no
// extraction), the extracted cifar-10-batches-bin directory, or a directory
// holding one of them. Train is data_batch_1.bin … data_batch_5.bin in
// order (50,000 images), Test is test_batch.bin (10,000). The result is
// 32×32×3 with [CIFAR10Info] metadata.
func LoadCIFAR10(path string, split Split) (*Memory, error) {
	recs, err := loadCIFAR(path, split, cifar10Spec)
	if err != nil {
		return nil, err
	}
	return NewMemory(CIFAR10Info(), recs.Pix, recs.Labels)
}

// LoadCIFAR100 reads split of CIFAR-100's binary version (archive
// cifar-100-binary.tar.gz or directory cifar-100-binary; train.bin is Train,
// test.bin is Test) with its 100 fine labels, or its 20 coarse labels when
// coarse is true. The result is 32×32×3 with [CIFAR100Info] metadata.
func LoadCIFAR100(path string, split Split, coarse bool) (*Memory, error) {
	recs, err := loadCIFAR(path, split, cifar100Spec)
	if err != nil {
		return nil, err
	}
	labels := recs.Labels
	if coarse {
		labels = recs.Coarse
	}
	return NewMemory(CIFAR100Info(coarse), recs.Pix, labels)
}

func loadCIFAR(p string, split Split, spec cifarSpec) (*CIFARRecords, error) {
	files := spec.train
	if split == Test {
		files = spec.test
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !st.IsDir() {
		return readCIFARArchive(p, files, spec)
	}
	// A directory: the batch files themselves, the extracted folder, or the
	// archive.
	for _, dir := range []string{p, filepath.Join(p, spec.folder)} {
		if _, err := os.Stat(filepath.Join(dir, files[0])); err == nil {
			return readCIFARFiles(dir, files, spec)
		}
	}
	if a := filepath.Join(p, spec.archive); fileExists(a) {
		return readCIFARArchive(a, files, spec)
	}
	return nil, fmt.Errorf("datasets: %s holds neither %s, %s/ nor %s: %w",
		p, files[0], spec.folder, spec.archive, fs.ErrNotExist)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func readCIFARFiles(dir string, files []string, spec cifarSpec) (*CIFARRecords, error) {
	parts := make([]*CIFARRecords, len(files))
	for i, name := range files {
		p := filepath.Join(dir, name)
		f, size, err := openSized(p)
		if err != nil {
			return nil, err
		}
		parts[i], err = readCIFARSized(f, size, size, false, p, spec.labelBytes == 2)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return joinCIFAR(parts), nil
}

// readCIFARArchive streams a .tar.gz (or plain .tar) archive once and decodes
// the members whose base names are in files, in the order of files.
func readCIFARArchive(archive string, files []string, spec cifarSpec) (*CIFARRecords, error) {
	f, size, err := openSized(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCIFARTar(f, size, archive, files, spec)
}

// readCIFARTar is [readCIFARArchive] on a stream of size bytes; archive is
// used in errors.
func readCIFARTar(f io.Reader, size int64, archive string, files []string, spec cifarSpec) (*CIFARRecords, error) {
	r, bound, gz, err := maybeGunzip(f, size, archive)
	if err != nil {
		return nil, err
	}
	want := map[string]int{}
	for i, f := range files {
		want[f] = i
	}
	parts := make([]*CIFARRecords, len(files))
	found := 0
	tr := tar.NewReader(r)
	for found < len(files) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: reading tar archive: %v: %w", archive, readErr(err), ErrFormat)
		}
		i, ok := want[path.Base(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg || parts[i] != nil {
			continue
		}
		parts[i], err = readCIFARSized(tr, h.Size, bound, gz, archive+":"+h.Name, spec.labelBytes == 2)
		if err != nil {
			return nil, err
		}
		found++
	}
	var missing []string
	for i, p := range parts {
		if p == nil {
			missing = append(missing, files[i])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("datasets: %s: archive lacks %s: %w", archive, strings.Join(missing, ", "),
			errors.Join(ErrFormat, fs.ErrNotExist))
	}
	return joinCIFAR(parts), nil
}

func joinCIFAR(parts []*CIFARRecords) *CIFARRecords {
	if len(parts) == 1 {
		return parts[0]
	}
	n := 0
	for _, p := range parts {
		n += p.Len()
	}
	out := &CIFARRecords{Pix: make([]uint8, 0, n*cifarPixels), Labels: make([]uint8, 0, n)}
	if parts[0].Coarse != nil {
		out.Coarse = make([]uint8, 0, n)
	}
	for _, p := range parts {
		out.Pix = append(out.Pix, p.Pix...)
		out.Labels = append(out.Labels, p.Labels...)
		if p.Coarse != nil {
			out.Coarse = append(out.Coarse, p.Coarse...)
		}
	}
	return out
}
