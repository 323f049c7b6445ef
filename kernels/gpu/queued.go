package gpu

import (
	"errors"
	"fmt"
	"strings"
)

// recentLaunches is how many of the kernels queued since the last check a
// QueuedError lists.
const recentLaunches = 16

// queued is one kernel launch as error reports name it: the kernel and the
// innermost NVTX range open when it was queued.
type queued struct{ kernel, rng string }

func (q queued) String() string {
	if q.rng == "" {
		return q.kernel
	}
	return q.kernel + " (in " + q.rng + ")"
}

// launchRing keeps the last recentLaunches kernels queued, in a fixed
// array so that recording a launch allocates nothing.
type launchRing struct {
	buf   [recentLaunches]queued
	since int // kernels queued since the last successful check
	total int // kernels queued (or captured) in all
}

func (r *launchRing) add(kernel, rng string) {
	r.buf[r.total%recentLaunches] = queued{kernel, rng}
	r.total++
	r.since++
}

// last copies the newest min(k, recentLaunches, total) entries into dst,
// oldest first, and returns how many it copied.
func (r *launchRing) last(dst []queued, k int) int {
	k = min(k, recentLaunches, r.total, len(dst))
	for i := range k {
		dst[i] = r.buf[(r.total-k+i)%recentLaunches]
	}
	return k
}

// QueuedError is a device error reported by a check (Sync, a download, a
// later launch) after the backend had queued kernels asynchronously. A
// fault of a kernel on a GPU surfaces only at the next check, so the error
// lists the kernels queued since the previous successful check, with the
// NVTX range (layer) each was queued in; the faulting one is among them.
// With SyncEach (NEXTCONV_CUDA_SYNC=1) every launch is checked, so Queued
// holds exactly the failing kernel.
type QueuedError struct {
	Err     error
	Queued  []string // "kernel (in range)", oldest first, at most 16
	Earlier int      // kernels queued since the last check that Queued omits
}

// Error names the cause and the queued kernels.
func (e *QueuedError) Error() string {
	if len(e.Queued) == 1 && e.Earlier == 0 {
		return fmt.Sprintf("gpu: kernel %s: %v", e.Queued[0], e.Err)
	}
	s := fmt.Sprintf("gpu: %v; kernels queued since the last check, oldest first: %s", e.Err, strings.Join(e.Queued, ", "))
	if e.Earlier > 0 {
		s += fmt.Sprintf(" (and %d earlier)", e.Earlier)
	}
	return s
}

// Unwrap returns the cause.
func (e *QueuedError) Unwrap() error { return e.Err }

// queuedError wraps err, a device error, with the kernels queued since the
// last check and starts a new check period; it returns err unchanged when
// nothing was queued or err already lists them.
func (b *Backend) queuedError(err error) error {
	var qe *QueuedError
	n := b.recent.since
	b.recent.since = 0
	if n == 0 || errors.As(err, &qe) {
		return err
	}
	var tail [recentLaunches]queued
	k := b.recent.last(tail[:], n)
	qe = &QueuedError{Err: err, Earlier: n - k}
	for _, q := range tail[:k] {
		qe.Queued = append(qe.Queued, q.String())
	}
	return qe
}

// checked ends a check period: it wraps a device error with the kernels
// queued since the last check, or, on success, forgets them.
func (b *Backend) checked(err error) error {
	if err != nil {
		return b.queuedError(err)
	}
	b.recent.since = 0
	return nil
}

// innermost returns the innermost open range, or "".
func (b *Backend) innermost() string {
	if len(b.ranges) == 0 {
		return ""
	}
	return b.ranges[len(b.ranges)-1]
}
