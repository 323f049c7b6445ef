//go:build cgo

package dynlib

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/nextconv/nextconv/cuda/internal/dynlib/fakelib"
)

const fakeSrc = `
int fake_version = VERSION;
int fake_twice(int x) { return 2 * x; }
`

// fakes builds libfake.so.N for each version N (as N*1000) in a fresh
// directory and returns the candidates newest first, N = 13, 12, 11.
func fakes(t *testing.T, versions ...int) (dir string, candidates []string) {
	dir = t.TempDir()
	for _, v := range versions {
		fakelib.Build(t, dir, "libfake.so."+strconv.Itoa(v), fakeSrc, "-DVERSION="+strconv.Itoa(v*1000))
	}
	for _, v := range []int{13, 12, 11} {
		candidates = append(candidates, filepath.Join(dir, "libfake.so."+strconv.Itoa(v)))
	}
	return dir, candidates
}

func version(t *testing.T, l *Library) int32 {
	t.Helper()
	p, err := l.Lookup("fake_version")
	if err != nil {
		t.Fatal(err)
	}
	return *(*int32)(p)
}

// TestOpenPicksFirstAvailable: with versions 12 and 11 present, Open skips
// the missing 13 and loads 12, the newest.
func TestOpenPicksFirstAvailable(t *testing.T) {
	t.Setenv("NEXTCONV_FAKE", "")
	_, cands := fakes(t, 12, 11)
	l, err := Open(Spec{Name: "fake", Env: "NEXTCONV_FAKE", Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Path != cands[1] || version(t, l) != 12000 {
		t.Errorf("loaded %s (version %d), want %s (12000)", l.Path, version(t, l), cands[1])
	}
}

// TestOpenOverride: the environment variable is the only path tried, even
// when a newer candidate exists, and a bad override is not silently
// replaced by a candidate.
func TestOpenOverride(t *testing.T) {
	_, cands := fakes(t, 13, 11)
	spec := Spec{Name: "fake", Env: "NEXTCONV_FAKE", Candidates: cands}
	t.Setenv("NEXTCONV_FAKE", cands[2])
	l, err := Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Path != cands[2] || version(t, l) != 11000 {
		t.Errorf("loaded %s (version %d), want the override %s", l.Path, version(t, l), cands[2])
	}

	t.Setenv("NEXTCONV_FAKE", cands[1]) // 12 does not exist
	_, err = Open(spec)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Tried) != 1 || le.Tried[0].Path != cands[1] {
		t.Fatalf("a missing override gave %v; want a LoadError for it alone", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "NEXTCONV_FAKE="+cands[1]+" was set") {
		t.Errorf("error does not say the override was set:\n%s", msg)
	}
}

// TestOpenMissing: when nothing loads, the error lists every path in
// order with the dynamic linker's reason, and names the variable to set.
func TestOpenMissing(t *testing.T) {
	t.Setenv("NEXTCONV_FAKE", "")
	_, cands := fakes(t)
	_, err := Open(Spec{Name: "fake", Env: "NEXTCONV_FAKE", Candidates: cands})
	var le *LoadError
	if !errors.As(err, &le) || len(le.Tried) != len(cands) {
		t.Fatalf("Open = %v; want a LoadError with %d attempts", err, len(cands))
	}
	msg := err.Error()
	last := 0
	for i, c := range cands {
		j := strings.Index(msg, c+": ")
		if j < last {
			t.Errorf("attempt %d (%s) missing or out of order in:\n%s", i, c, msg)
		}
		last = j
		if !strings.Contains(le.Tried[i].Err, "No such file") {
			t.Errorf("attempt %s: reason %q, want dlerror's", c, le.Tried[i].Err)
		}
	}
	if !strings.Contains(msg, "cannot load fake") || !strings.Contains(msg, "set NEXTCONV_FAKE") {
		t.Errorf("error does not name the library and the variable:\n%s", msg)
	}
}

// TestOpenNotALibrary: a file that is not a shared object is reported with
// dlerror's reason, and the next candidate is tried.
func TestOpenNotALibrary(t *testing.T) {
	t.Setenv("NEXTCONV_FAKE", "")
	dir, cands := fakes(t, 11)
	if err := os.WriteFile(filepath.Join(dir, "libfake.so.13"), []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(Spec{Name: "fake", Env: "NEXTCONV_FAKE", Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Path != cands[2] {
		t.Errorf("loaded %s, want %s", l.Path, cands[2])
	}
	_, err = Open(Spec{Name: "fake", Candidates: cands[:1]})
	if err == nil || !strings.Contains(err.Error(), "libfake.so.13: ") || strings.Contains(err.Error(), "No such file") {
		t.Errorf("a corrupt library gave %v", err)
	}
}

// TestResolve: every symbol resolves, or the error names each missing one
// and nothing is stored.
func TestResolve(t *testing.T) {
	t.Setenv("NEXTCONV_FAKE", "")
	_, cands := fakes(t, 13)
	l, err := Open(Spec{Name: "fake", Env: "NEXTCONV_FAKE", Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var twice, ver, gone1, gone2 unsafe.Pointer
	if err := l.Resolve([]Symbol{{"fake_twice", &twice}, {"fake_version", &ver}}); err != nil || twice == nil || ver == nil {
		t.Fatalf("Resolve: %v (%p %p)", err, twice, ver)
	}
	twice = nil
	err = l.Resolve([]Symbol{{"fake_twice", &twice}, {"cublasNothing", &gone1}, {"cublasNothingElse", &gone2}})
	if err == nil || !strings.Contains(err.Error(), "cublasNothing, cublasNothingElse") || !strings.Contains(err.Error(), cands[0]) {
		t.Errorf("missing symbols gave %v", err)
	}
	if twice != nil {
		t.Error("Resolve stored addresses although a symbol was missing")
	}
}
