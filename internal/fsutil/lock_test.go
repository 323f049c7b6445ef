//go:build unix

package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// childEnv selects what the test binary does when a test re-runs it as a
// child process that the parent then kills with SIGKILL.
const childEnv = "FSUTIL_TEST_CHILD"

// TestMain runs the child side: "lock PATH" holds PATH's lock, "write PATH"
// stops in the middle of WriteAtomic(PATH); both print "ready" and wait to be
// killed.
func TestMain(m *testing.M) {
	mode, path, ok := strings.Cut(os.Getenv(childEnv), " ")
	if !ok {
		os.Exit(m.Run())
	}
	switch mode {
	case "lock":
		if _, err := Lock(path); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
	case "write":
		WriteAtomic(path, func(w io.Writer) error {
			w.Write([]byte("half a checkpoint"))
			fmt.Println("ready")
			select {}
		})
	}
	select {}
}

// startChild runs this test binary as a child in mode on path and returns
// once it printed "ready".
func startChild(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+" "+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child %s %s: %q", mode, path, line)
	}
	return cmd
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup runs
		t.Fatal(err)
	}
	cmd.Wait()
}

// TestLock checks that a held lock refuses a second taker (in this process or
// another), naming the holder's PID, and that Unlock or kill -9 of the
// holder frees it.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	l, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", os.Getpid())) {
		t.Fatalf("second lock in this process: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	child := startChild(t, "lock", path)
	_, err = Lock(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", child.Process.Pid)) {
		t.Fatalf("lock held by child %d: %v", child.Process.Pid, err)
	}
	kill(t, child)
	l, err = Lock(path)
	if err != nil {
		t.Fatalf("after kill -9 of the holder: %v", err)
	}
	l.Unlock()
	if l.Unlock() != nil || (*FileLock)(nil).Unlock() != nil {
		t.Error("Unlock of a released or nil lock failed")
	}
}

// TestRemoveStaleTemps kills a process in the middle of WriteAtomic and
// checks that RemoveStaleTemps removes exactly the temporary file it left.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "last.safetensors")
	keep := []string{".hidden", "last.safetensors", "notes.tmp-1", ".dir.tmp-1"}
	for _, name := range keep[:3] {
		os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, keep[3]), 0o755)
	kill(t, startChild(t, "write", target))
	removed, err := RemoveStaleTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || !strings.HasPrefix(removed[0], ".last.safetensors.tmp-") {
		t.Errorf("removed %v, want the one temporary file of the killed write", removed)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Errorf("left %v, want %v", left, keep)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the killed write changed its target: %q", b)
	}
}
