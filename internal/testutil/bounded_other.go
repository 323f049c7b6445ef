//go:build !linux

package testutil

import "testing"

// RunBounded runs body; only on Linux does it run in a child process under
// an address-space limit (see bounded_linux.go).
func RunBounded(t *testing.T, growth uint64, body func(t *testing.T)) {
	t.Helper()
	body(t)
}
