package sim

/*
#include <stdlib.h>
#include "cudasim_abi.h"
*/
import "C"

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// ErrCapture: an operation that a GPU forbids while a stream is being
// captured (a host copy, a synchronisation, a Free), or a capture call out
// of order (BeginCapture twice, EndCapture without BeginCapture, launching
// a released graph).
var ErrCapture = errors.New("stream capture")

// nodeOp is the kind of work one graph node replays.
type nodeOp uint8

const (
	opLaunch nodeOp = iota
	opMemset
	opCopy
	opSgemm
	opMatmul
)

// node is one piece of stream work, run at once or recorded into a graph:
// a kernel launch with its packed arguments (copied, so the launcher may
// reuse its Args), a memset, a device-to-device copy, an Sgemm or a Matmul.
type node struct {
	op          nodeOp
	kernel      *Kernel
	grid, block cuda.Dim3 // as passed, for Launches
	g, b        [3]uint32
	smem        int
	args        cuda.Args
	rng         string // innermost open range when queued
	dst, src    cuda.DevicePtr
	bytes       int
	value       byte
	gemm        sgemmArgs
	matmul      C.cudasim_matmul_args
}

// sgemmArgs are the arguments of one Sgemm.
type sgemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        cuda.DevicePtr
	lda, ldb, ldc  int
}

// submit runs n now, or records it while a capture is open.
func (d *Driver) submit(n *node) error {
	if d.capture != nil {
		d.capture.nodes = append(d.capture.nodes, *n)
		return nil
	}
	return d.exec(n)
}

// exec runs one node.
func (d *Driver) exec(n *node) error {
	switch n.op {
	case opLaunch:
		return d.run(n)
	case opMemset:
		return cerr(C.cudasim_memset(d.ctx, C.uintptr_t(n.dst), C.int(n.value), C.size_t(n.bytes)), "memset", ErrInvalidValue)
	case opCopy:
		return cerr(C.cudasim_dtod(d.ctx, C.uintptr_t(n.dst), C.uintptr_t(n.src), C.size_t(n.bytes)), "memcpy DtoD", ErrInvalidValue)
	case opMatmul:
		return cerr(C.cudasim_matmul(d.ctx, &n.matmul), "matmul", ErrInvalidValue)
	default:
		g := &n.gemm
		return cerr(C.cudasim_sgemm(d.ctx, cbool(g.transA), cbool(g.transB), C.int(g.m), C.int(g.n), C.int(g.k), C.float(g.alpha),
			C.uintptr_t(g.a), C.int(g.lda), C.uintptr_t(g.b), C.int(g.ldb), C.float(g.beta), C.uintptr_t(g.c), C.int(g.ldc)), "sgemm", ErrInvalidValue)
	}
}

// capture is an open stream capture.
type capture struct {
	nodes  []node
	broken error // the first operation that invalidated the capture
}

// notCapturing returns the error an operation that a capture forbids
// returns, after marking the capture broken; nil outside a capture.
func (d *Driver) notCapturing(op string) error {
	if d.capture == nil {
		return nil
	}
	err := &cuda.Error{Op: op, Err: fmt.Errorf("%w: not allowed while the stream is being captured", ErrCapture)}
	if d.capture.broken == nil {
		d.capture.broken = err
	}
	return err
}

// BeginCapture starts recording launches, Memsets, CopyDtoDs, Sgemms and Matmuls
// into a graph instead of running them. Their arguments are checked when
// recorded. CopyHtoD, CopyDtoH, Synchronize, Record, Elapsed and Free fail
// with ErrCapture until EndCapture, which then fails too.
func (d *Driver) BeginCapture() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("begin capture"); err != nil {
		return err
	}
	if d.capture != nil {
		return &cuda.Error{Op: "begin capture", Err: fmt.Errorf("%w: a capture is already open", ErrCapture)}
	}
	d.capture = &capture{}
	return nil
}

// EndCapture closes the capture and returns its graph, or the error that
// broke it.
func (d *Driver) EndCapture() (cuda.Graph, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.capture
	d.capture = nil
	if c == nil {
		return nil, &cuda.Error{Op: "end capture", Err: fmt.Errorf("%w: no capture is open", ErrCapture)}
	}
	if c.broken != nil {
		return nil, &cuda.Error{Op: "end capture", Err: fmt.Errorf("capture invalidated: %w", c.broken)}
	}
	if err := d.usable("end capture"); err != nil {
		return nil, err
	}
	return &Graph{d: d, nodes: c.nodes}, nil
}

// Graph is a captured sequence of stream work of a simulator [Driver].
type Graph struct {
	d        *Driver
	nodes    []node
	released bool
}

// Launch replays the captured work in order. A node that fails stops the
// replay with its error (a kernel fault names the kernel and the range it
// was captured in, and faults the Driver as an eager launch would).
func (g *Graph) Launch() error {
	d := g.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("graph launch"); err != nil {
		return err
	}
	if g.released {
		return &cuda.Error{Op: "graph launch", Err: fmt.Errorf("%w: graph already released", ErrCapture)}
	}
	if d.capture != nil {
		d.capture.nodes = append(d.capture.nodes, g.nodes...)
		return nil
	}
	for i := range g.nodes {
		if err := d.exec(&g.nodes[i]); err != nil {
			return err
		}
	}
	d.replays++
	return nil
}

// Release frees the graph.
func (g *Graph) Release() error {
	g.released, g.nodes = true, nil
	return nil
}

// Nodes returns the number of operations the graph replays.
func (g *Graph) Nodes() int { return len(g.nodes) }
