// Package fakelib builds small shared libraries from C source for tests of
// run-time loading: stand-ins, with the real sonames, for libraries a test
// machine lacks (cuBLAS without a GPU).
package fakelib

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles src (C) with cc -shared -fPIC and the further arguments
// args (-DNAME=VALUE, -Wl,-soname,..., -L..., -l...) into dir/name and
// returns its path. It skips the test when no C compiler is installed (CC,
// else cc) and fails it when compiling fails.
func Build(t testing.TB, dir, name, src string, args ...string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build fake %s: %v", cc, name, err)
	}
	srcPath := filepath.Join(dir, name+".c")
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args = append([]string{"-shared", "-fPIC", "-O1", "-o", out, srcPath}, args...)
	if msg, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", cc, args, err, msg)
	}
	return out
}
