package bin

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/cudasrc"
)

const srcDir = "../src"

// TestManifestMatchesSources fails when a kernel source or a shared header was
// added, removed or changed without regenerating the fatbin: go build does
// not notice, so the GPU would run old kernels (or miss new ones) while the
// simulator runs the new ones.
func TestManifestMatchesSources(t *testing.T) {
	srcs, err := cudasrc.ScanDir(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]string{}
	for _, s := range srcs {
		onDisk["kernels/src/"+filepath.Base(s.Path)] = s.SHA256
	}
	headers, err := cudasrc.Headers(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		sum, err := cudasrc.HashFile(h)
		if err != nil {
			t.Fatal(err)
		}
		onDisk["kernels/src/"+filepath.Base(h)] = sum
	}
	var problems []string
	for path, sha := range onDisk {
		switch rec, ok := Sources[path]; {
		case !ok:
			problems = append(problems, path+" is not compiled in")
		case rec != sha:
			problems = append(problems, path+" changed")
		}
	}
	for path := range Sources {
		if _, ok := onDisk[path]; !ok {
			problems = append(problems, path+" no longer exists")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("kernels.fatbin is stale (%s): run go generate ./kernels/...", strings.Join(problems, ", "))
	}
	if names := cudasrc.Names(srcs); !reflect.DeepEqual(Kernels, names) {
		t.Errorf("the manifest lists kernels %v, the sources define %v: run go generate ./kernels/...", Kernels, names)
	}
}

// fatbinMagic starts every fatbin nvcc writes (fatbinary.h's
// FATBIN_MAGIC, stored little-endian).
const fatbinMagic = 0xBA55ED50

// TestImage checks that the embedded image is an nvcc fatbin and that the
// manifest describes a build. Which kernels the (compressed) image holds was
// checked by the generator with cuobjdump; TestManifestMatchesSources ties
// the manifest to the sources.
func TestImage(t *testing.T) {
	if len(Image) < 16 || binary.LittleEndian.Uint32([]byte(Image[:4])) != fatbinMagic {
		t.Fatalf("kernels.fatbin (%d bytes) is not a fatbin: run go generate ./kernels/...", len(Image))
	}
	if NVCCVersion == "" || len(Flags) == 0 {
		t.Errorf("manifest lacks the nvcc version (%q) or flags (%v)", NVCCVersion, Flags)
	}
}
