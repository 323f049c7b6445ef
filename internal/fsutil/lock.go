//go:build unix

package fsutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by the error Lock returns when another process (or
// another Lock in this one) holds the lock.
var ErrLocked = errors.New("locked by another process")

// FileLock is an exclusive advisory lock on a file, taken by Lock and
// released by Unlock.
type FileLock struct{ f *os.File }

// Lock takes an exclusive flock(2) lock on path, creating the file if needed,
// without waiting, and writes this process's ID into it so that a refused
// caller can name the holder. The kernel drops the lock when the process
// exits, even by kill -9, so a lock never outlives its run and a leftover
// file is harmless. When the lock is held elsewhere Lock returns an error
// wrapping ErrLocked that names path and, when known, the holder's PID;
// other errors come from opening or locking the file.
func Lock(path string) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (PID %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w%s", path, ErrLocked, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return &FileLock{f: f}, nil
}

// Unlock clears the PID and releases the lock; the file stays (removing it
// would let a waiting process lock a file that a third one no longer sees).
// Unlock on a nil or released lock does nothing.
func (l *FileLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
