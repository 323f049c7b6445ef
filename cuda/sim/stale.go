package sim

/*
#include <stdlib.h>
#include "cudasim_abi.h"
*/
import "C"

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/nextconv/nextconv/internal/fsutil"
)

//go:generate go run ./internal/gen/simgen -group kernels -src ../../kernels/src -out kernels_sim.cc

const modulePath = "github.com/nextconv/nextconv"

// source is one file a group of compiled kernels came from.
type source struct {
	group, path, sha string
}

// compiledSources returns the sources recorded by the generated registry
// files linked into this binary.
func compiledSources() []source {
	cs := C.cudasim_sources()
	text := C.GoString(cs)
	C.free(unsafe.Pointer(cs))
	var out []source
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 {
			out = append(out, source{f[0], f[1], f[2]})
		}
	}
	return out
}

var staleOnce = sync.OnceValue(func() error {
	root := findModuleRoot()
	if root == "" {
		return nil // not run inside the source tree: nothing to compare with
	}
	return staleness(root, "kernels", "kernels/src")
})

func checkSources() error { return staleOnce() }

// findModuleRoot returns the root of the nextconv module above the working
// directory, or "" when the nearest go.mod is another module's or there is
// none.
func findModuleRoot() string {
	d, err := fsutil.ModuleRoot(".")
	if err != nil {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(d, "go.mod"))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if strings.TrimSpace(strings.TrimPrefix(line, "module")) != modulePath {
		return ""
	}
	return d
}

// staleness compares the sources compiled for group with the *.cu files and
// the shared *.cuh headers in root/dir and describes any difference.
func staleness(root, group, dir string) error {
	compiled := map[string]string{}
	for _, s := range compiledSources() {
		if s.group == group {
			compiled[s.path] = s.sha
		}
	}
	onDisk, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(dir), "*.cu"))
	if err != nil {
		return err
	}
	headers, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(dir), "*.cuh"))
	if err != nil {
		return err
	}
	onDisk = append(onDisk, headers...)
	var problems []string
	seen := map[string]bool{}
	for _, f := range onDisk {
		rel := filepath.ToSlash(strings.TrimPrefix(f, root+string(filepath.Separator)))
		seen[rel] = true
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		switch sha, ok := compiled[rel]; {
		case !ok:
			problems = append(problems, rel+" is not compiled in")
		case sha != hex.EncodeToString(sum[:]):
			problems = append(problems, rel+" changed")
		}
	}
	for p := range compiled {
		if !seen[p] {
			problems = append(problems, p+" no longer exists")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("the simulator's compiled kernels are stale (%s): run go generate ./cuda/sim/... and build again", strings.Join(problems, ", "))
}
