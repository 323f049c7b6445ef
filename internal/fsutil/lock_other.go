//go:build !unix

package fsutil

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrLocked is wrapped by the error Lock returns when another process holds
// the lock.
var ErrLocked = errors.New("locked by another process")

// FileLock is an exclusive advisory lock on a file (unix only).
type FileLock struct{}

// Lock is implemented with flock(2) on unix systems only; elsewhere it
// returns an error naming the operating system.
func Lock(path string) (*FileLock, error) {
	return nil, fmt.Errorf("lock %s: file locks are not implemented on %s", path, runtime.GOOS)
}

// Unlock does nothing.
func (l *FileLock) Unlock() error { return nil }
