package gpu

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// Graph is work of this backend captured once ([Backend.Capture]) and
// replayed as a CUDA graph: the kernels, GEMMs, memsets and device copies
// that the captured code queued, with the same device addresses and
// arguments. Values that change between replays must be read by the
// kernels from device memory that the host refills before each Launch
// (the optimizer's learning rate and bias corrections: see PrepareAdamW).
type Graph struct {
	b       *Backend
	g       cuda.Graph
	held    map[int][]pooled       // pool buffers kept from reuse while the graph lives
	tail    [recentLaunches]queued // the graph's last kernels, for error reports
	ntail   int
	kernels int // kernel launches captured
}

// ErrSyncEach is returned by Capture when the backend synchronises after
// every launch (SyncEach, NEXTCONV_CUDA_SYNC=1): a capture cannot contain
// synchronisations.
var ErrSyncEach = errors.New("gpu: no graph capture while every launch is synchronised (NEXTCONV_CUDA_SYNC=1)")

// Capture runs body with the driver capturing its work into a graph
// instead of running it, and returns the graph; nothing of body's device
// work has run when Capture returns. body must not read device memory back
// to the host, upload host data or synchronise (the driver rejects those
// while capturing), and everything it uses must already be allocated or
// come from the backend's pool. The buffers that are free in the pool when
// the capture ends (scratch space the graph reuses on every replay) stay
// out of the pool until Release, so later work cannot take them. It
// returns ErrSyncEach with SyncEach set, and body's or the driver's error
// otherwise.
func (b *Backend) Capture(body func() error) (*Graph, error) {
	if b.SyncEach {
		return nil, ErrSyncEach
	}
	if b.capturing {
		return nil, errors.New("gpu: capture already in progress")
	}
	if err := b.drv.BeginCapture(); err != nil {
		return nil, fmt.Errorf("gpu: begin capture: %w", err)
	}
	b.capturing = true
	start := b.recent.total
	err := body()
	b.capturing = false
	g, endErr := b.drv.EndCapture()
	if err == nil && endErr != nil {
		err = fmt.Errorf("gpu: end capture: %w", endErr)
	}
	if err != nil {
		if g != nil {
			err = errors.Join(err, g.Release())
		}
		return nil, err
	}
	gr := &Graph{b: b, g: g, held: b.pool.free, kernels: b.recent.total - start}
	b.pool.free = map[int][]pooled{}
	gr.ntail = b.recent.last(gr.tail[:], min(gr.kernels, recentLaunches))
	return gr, nil
}

// Launch queues one replay of the graph. An error (or a fault found later,
// by the next check) is reported with the graph's last kernels.
func (g *Graph) Launch() error {
	b := g.b
	if g.g == nil {
		return errors.New("gpu: graph launch after Release")
	}
	for _, q := range g.tail[:g.ntail] {
		b.recent.add(q.kernel, q.rng)
	}
	if err := g.g.Launch(); err != nil {
		return b.queuedError(err)
	}
	return nil
}

// Kernels returns the number of kernel launches the graph replays.
func (g *Graph) Kernels() int { return g.kernels }

// Release frees the graph and returns its scratch buffers to the pool.
// The graph must not be launched afterwards.
func (g *Graph) Release() error {
	if g.g == nil {
		return nil
	}
	err := g.g.Release()
	g.g = nil
	p := &g.b.pool
	for bytes, list := range g.held {
		if p.free == nil {
			p.free = map[int][]pooled{}
		}
		p.free[bytes] = append(p.free[bytes], list...)
	}
	g.held = nil
	return err
}

// Capturing reports whether a Capture is running.
func (b *Backend) Capturing() bool { return b.capturing }
