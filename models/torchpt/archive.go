package torchpt

import (
	"archive/zip"
	"fmt"
	"io"
	"strings"
)

// archive is the zip container torch.save writes since PyTorch 1.6
// (torch/serialization.py _save): <prefix>/data.pkl, the pickled object,
// and one <prefix>/data/<key> entry of raw little-endian elements per
// storage, plus small records (version, byteorder).
type archive struct {
	path    string
	size    int64 // the file's size in bytes
	entries map[string]*zip.File
	prefix  string // "<prefix>/"
	limits  Limits
	read    int64 // storage bytes read so far
}

// openArchive indexes a zip reader's entries after checking their count and
// locating the single data.pkl.
func openArchive(path string, zr *zip.Reader, size int64, lim Limits) (*archive, error) {
	if len(zr.File) > lim.MaxEntries {
		return nil, fmt.Errorf("torchpt: %s has %d zip entries, more than the %d allowed", path, len(zr.File), lim.MaxEntries)
	}
	a := &archive{path: path, size: size, entries: make(map[string]*zip.File, len(zr.File)), limits: lim}
	for _, f := range zr.File {
		a.entries[f.Name] = f
		if dir, ok := strings.CutSuffix(f.Name, "data.pkl"); ok && strings.Count(dir, "/") == 1 && strings.HasSuffix(dir, "/") {
			if a.prefix != "" {
				return nil, fmt.Errorf("torchpt: %s holds two pickles (%sdata.pkl, %s)", path, a.prefix, f.Name)
			}
			a.prefix = dir
		}
	}
	if a.prefix == "" {
		return nil, fmt.Errorf("torchpt: %s is a zip file without <name>/data.pkl: not a torch.save checkpoint", path)
	}
	if _, ok := a.entries[a.prefix+"constants.pkl"]; ok {
		return nil, fmt.Errorf("torchpt: %s is a TorchScript archive, not a torch.save checkpoint", path)
	}
	if bo, err := a.record("byteorder", 16); err == nil && strings.TrimSpace(string(bo)) != "little" {
		return nil, fmt.Errorf("torchpt: %s stores %q byte order; only little-endian files are read", path, bo)
	}
	return a, nil
}

// record reads <prefix>/name whole if it is at most max bytes.
func (a *archive) record(name string, max int64) ([]byte, error) {
	f, ok := a.entries[a.prefix+name]
	if !ok {
		return nil, fmt.Errorf("torchpt: %s has no record %s%s", a.path, a.prefix, name)
	}
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("torchpt: %s: record %s announces %d bytes, more than the %d allowed", a.path, f.Name, f.UncompressedSize64, max)
	}
	if err := a.plausible(f); err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: record %s: %w", a.path, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err == nil && uint64(len(b)) != f.UncompressedSize64 {
		err = fmt.Errorf("holds %d bytes, its header says %d", len(b), f.UncompressedSize64)
	}
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: record %s (truncated or corrupt?): %w", a.path, f.Name, err)
	}
	return b, nil
}

// plausible rejects an entry whose announced size the file cannot hold:
// a stored entry must fit in the file, a deflated one within DEFLATE's
// maximal ratio of 1032:1.
func (a *archive) plausible(f *zip.File) error {
	limit := uint64(a.size)
	if f.Method != zip.Store {
		limit = 1032 * min(f.CompressedSize64, uint64(a.size))
	}
	if f.UncompressedSize64 > limit {
		return fmt.Errorf("torchpt: %s: record %s announces %d bytes, more than the file can hold (truncated or corrupt?)", a.path, f.Name, f.UncompressedSize64)
	}
	return nil
}

// storage reads the raw bytes of storage key, which must hold exactly
// want bytes, counting them against Limits.MaxBytes.
func (a *archive) storage(key string, want int64) ([]byte, error) {
	if strings.ContainsAny(key, "/\\") || key == "" || key == "." || key == ".." {
		return nil, fmt.Errorf("torchpt: %s: storage key %q is not a plain name", a.path, key)
	}
	if want < 0 || a.read+want > a.limits.MaxBytes {
		return nil, fmt.Errorf("torchpt: %s: storages exceed %d bytes (Limits.MaxBytes)", a.path, a.limits.MaxBytes)
	}
	f, ok := a.entries[a.prefix+"data/"+key]
	if !ok {
		return nil, fmt.Errorf("torchpt: %s: storage %s is missing (truncated file?)", a.path, key)
	}
	if f.UncompressedSize64 != uint64(want) {
		return nil, fmt.Errorf("torchpt: %s: storage %s holds %d bytes, the pickle says %d", a.path, key, f.UncompressedSize64, want)
	}
	b, err := a.record("data/"+key, want)
	if err != nil {
		return nil, err
	}
	a.read += want
	return b, nil
}
