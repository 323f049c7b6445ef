// Package fsutil holds file helpers shared by checkpoints, exports,
// configuration dumps and the code generators: atomic writes, removing the
// temporary files a killed write left, advisory file locks and finding the
// module root.
package fsutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix sits between the target's name and the random suffix in the
// temporary files of WriteAtomic: ".<name>.tmp-<random>".
const tempInfix = ".tmp-"

// WriteAtomic writes a file by calling write on a buffered temporary file in
// the same directory, syncing it and renaming it over path, so that path
// holds either its old contents or the complete new ones, never a partial
// file. On any error the temporary file is removed and path is untouched.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveStaleTemps removes the temporary files that WriteAtomic leaves in dir
// when its process is killed before the rename (".<name>.tmp-<random>",
// regular files only) and returns their names. Call it only while no other
// process can be writing into dir, e.g. while holding dir's Lock.
func RemoveStaleTemps(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("remove temporary files: %w", err)
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.Contains(name[1:], tempInfix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return removed, fmt.Errorf("remove temporary file: %w", err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}
