//go:build linux

package testutil

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// boundedEnv names the test a child process of RunBounded runs.
const boundedEnv = "NEXTCONV_BOUNDED_TEST"

// RunBounded runs body in a child process (this test binary, running only
// t's test) whose address space may grow by at most growth bytes beyond
// what it had when the test started (RLIMIT_AS). A reader that allocates
// what a hostile header announces therefore dies in the child with "out
// of memory", and t fails with the child's output, instead of taking this
// machine's memory. t must be a top-level test. Elsewhere than Linux body
// runs in this process, unbounded.
func RunBounded(t *testing.T, growth uint64, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(boundedEnv) == t.Name() {
		limitAddressSpace(t, growth)
		body(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), boundedEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child under a %d MiB address-space limit: %v\n%s", growth>>20, err, out)
	}
	t.Logf("child under a %d MiB address-space limit passed:\n%s", growth>>20, out)
}

// limitAddressSpace sets RLIMIT_AS to the current address space (VmSize in
// /proc/self/status) plus growth bytes.
func limitAddressSpace(t *testing.T, growth uint64) {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vm uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			vm = kb << 10
		}
	}
	if vm == 0 {
		t.Fatal("no VmSize in /proc/self/status")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = min(lim.Max, vm+growth)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Fatal(err)
	}
}
