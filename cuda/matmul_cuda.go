//go:build cuda && cgo

package cuda

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/nextconv/nextconv/cuda/internal/cublas"
)

// ltWorkspaceBytes is the cuBLASLt workspace the Device allocates once, on
// its first Matmul, and lets every algorithm use: 32 MiB, what NVIDIA's
// cuBLAS documentation recommends for Hopper (smaller GPUs need less).
const ltWorkspaceBytes = 32 << 20

// lt is the Device's cuBLASLt state, owned by the device goroutine: the
// handle, the workspace and a plan (descriptors, layouts, algorithm) per
// product shape, made on first use and kept until Close.
type lt struct {
	handle    cublas.LtHandle
	workspace cu.DevicePtr
	plans     map[MatmulKey]*cublas.LtPlan
}

// ltTypes maps DataType to cudaDataType_t.
var ltTypes = [...]int{Float32: cublas.R32F, BFloat16: cublas.R16BF}

// ltEpilogues maps Epilogue to cublasLtEpilogue_t.
var ltEpilogues = [...]int{EpilogueDefault: cublas.EpilogueDefault, EpilogueBias: cublas.EpilogueBias, EpilogueBGradB: cublas.EpilogueBGradB}

// Matmul queues m as one cublasLtMatmul on the device's stream (see
// [Matmul] and [Driver]). The first product of a shape creates its
// descriptors and asks cuBLASLt's heuristic for an algorithm that fits the
// 32 MiB workspace and the matrices' alignment; later ones of that shape
// and alignment reuse them. Bad sizes are
// returned at once; a cuBLASLt failure (an unsupported combination names
// the call and CUBLAS_STATUS_NOT_SUPPORTED) is kept for Synchronize.
func (d *Device) Matmul(m Matmul) error {
	if err := m.Check(); err != nil {
		return &Error{Op: "matmul", Err: err}
	}
	if m.M == 0 || m.N == 0 {
		return nil
	}
	if err := d.peek(); err != nil {
		return err
	}
	return d.queue("matmul", func() error {
		p, err := d.ltPlan(&m)
		if err == nil {
			err = d.blasLib.LtMatmul(d.lt.handle, p, m.Alpha, m.Beta, uintptr(m.A), uintptr(m.B), uintptr(m.C), uintptr(m.D),
				uintptr(m.Bias), uintptr(d.lt.workspace), ltWorkspaceBytes, uintptr(unsafe.Pointer(d.stream.C())))
		}
		if err != nil {
			return &Error{Op: "matmul", Err: fmt.Errorf("m=%d n=%d k=%d %s×%s→%s %s: %w", m.M, m.N, m.K, m.AB, m.AB, m.CD, m.Epilogue, err)}
		}
		return nil
	})
}

// ltPlan returns the plan for m's shape, creating the handle, the
// workspace and the plan on first use. It runs on the device goroutine.
func (d *Device) ltPlan(m *Matmul) (*cublas.LtPlan, error) {
	if d.lt.handle == 0 {
		h, err := d.blasLib.LtCreate()
		if err != nil {
			return nil, fmt.Errorf("cuBLASLt init (%s): %w", d.blasLib.Lt.Path, err)
		}
		ws, err := cu.MemAlloc(ltWorkspaceBytes)
		if err != nil {
			d.blasLib.LtDestroy(h)
			return nil, fmt.Errorf("cuBLASLt workspace of %d bytes: %w", ltWorkspaceBytes, err)
		}
		d.lt = lt{handle: h, workspace: ws, plans: map[MatmulKey]*cublas.LtPlan{}}
	}
	key := m.Key()
	if p, ok := d.lt.plans[key]; ok {
		return p, nil
	}
	compute := cublas.Compute32F
	if m.Compute == Compute32FFastTF32 {
		compute = cublas.Compute32FFastTF
	}
	p, err := d.blasLib.LtPlan(d.lt.handle, cublas.LtMatmulSpec{TransA: m.TransA, TransB: m.TransB, M: m.M, N: m.N, K: m.K,
		LDA: m.LDA, LDB: m.LDB, LDC: m.LDC, LDD: m.LDD, AB: ltTypes[m.AB], CD: ltTypes[m.CD], BiasType: ltTypes[m.BiasType],
		Compute: compute, Epilogue: ltEpilogues[m.Epilogue], MaxWorkspace: ltWorkspaceBytes,
		Align: [4]int{int(key.Align[0]), int(key.Align[1]), int(key.Align[2]), int(key.Align[3])}})
	if err != nil {
		return nil, err
	}
	d.lt.plans[key] = p
	return p, nil
}

// ltRelease destroys the plans, the workspace and the handle (teardown).
func (d *Device) ltRelease() error {
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, p := range d.lt.plans {
		note(d.blasLib.LtPlanDestroy(p))
	}
	if d.lt.workspace != 0 {
		note(cu.MemFree(d.lt.workspace))
	}
	if d.lt.handle != 0 {
		note(d.blasLib.LtDestroy(d.lt.handle))
	}
	d.lt = lt{}
	return first
}

// Device returns the GPU's name and compute capability, read by New.
func (d *Device) Device() DeviceInfo { return d.device }
