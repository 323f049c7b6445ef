package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// ModuleRoot returns the nearest directory at or above dir (made absolute)
// that holds a go.mod file, and an error naming dir when there is none.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
}
