package main

import (
	"fmt"
	"strings"

	"github.com/nextconv/nextconv/cuda"
)

// sum accumulates the items of one row of a table.
type sum struct {
	Key          string
	Launches     int
	Bytes, FLOPs int64
	T32, TF32    float64 // roofline seconds, SGEMM at FP32 / TF32 peak
	GEMM         bool
	geoms        []string // distinct grid × block strings, in order of appearance
	minBlocks    int      // smallest and largest grid (blocks per launch)
	maxBlocks    int
	blockDims    []string // distinct block sizes
	first        item     // the first item, for its shape
}

func (s *sum) add(it item) {
	if s.Launches == 0 {
		s.first, s.minBlocks = it, blocksOf(it.Grid)
	}
	s.Launches++
	s.Bytes += it.Bytes
	s.FLOPs += it.FLOPs
	s.T32 += it.T32
	s.TF32 += it.TF32
	s.GEMM = s.GEMM || it.cost.GEMM
	s.geoms = appendNew(s.geoms, geometry(it))
	s.blockDims = appendNew(s.blockDims, dim(it.Block))
	s.minBlocks = min(s.minBlocks, blocksOf(it.Grid))
	s.maxBlocks = max(s.maxBlocks, blocksOf(it.Grid))
}

// AI returns the arithmetic intensity in FLOP per byte.
func (s *sum) AI() float64 {
	if s.Bytes == 0 {
		return 0
	}
	return float64(s.FLOPs) / float64(s.Bytes)
}

// Geometry returns the launch geometry of the row: the one grid × block
// when all launches share it, else the range of grid sizes.
func (s *sum) Geometry() string {
	if len(s.geoms) == 1 {
		return s.geoms[0]
	}
	if s.first.Kernel == "sgemm" || s.first.Kernel == "memset" || s.first.Kernel == "memcpy" {
		return s.geoms[0]
	}
	return fmt.Sprintf("%d–%d blocks × %s", s.minBlocks, s.maxBlocks, strings.Join(s.blockDims, ", "))
}

// aggregate groups items by key, rows in order of first appearance.
func aggregate(items []item, key func(item) string) []*sum {
	var rows []*sum
	at := map[string]*sum{}
	for _, it := range items {
		k := key(it)
		s, ok := at[k]
		if !ok {
			s = &sum{Key: k}
			at[k] = s
			rows = append(rows, s)
		}
		s.add(it)
	}
	return rows
}

// total sums all items.
func total(items []item) *sum {
	s := &sum{Key: "total"}
	for _, it := range items {
		s.add(it)
	}
	return s
}

// kernelName is the row name of a launch in the per-kernel tables: the
// kernel symbol, with cuBLAS SGEMMs split by role.
func kernelName(it item) string {
	if it.Kernel != "sgemm" {
		return it.Kernel
	}
	switch {
	case it.Phase == "forward":
		return "sgemm (forward)"
	case it.launch.GEMM.Beta != 0:
		return "sgemm (weight grad, β=1)"
	}
	return "sgemm (input grad)"
}

// geometry is "grid × block" of a kernel launch.
func geometry(it item) string {
	switch it.Kernel {
	case "sgemm":
		return "cuBLAS"
	case "memset", "memcpy":
		return "driver"
	}
	return dim(it.Grid) + " × " + dim(it.Block)
}

// dim formats a Dim3 as X, X×Y or X×Y×Z.
func dim(d cuda.Dim3) string {
	x, y, z := max(d.X, 1), max(d.Y, 1), max(d.Z, 1)
	switch {
	case z > 1:
		return fmt.Sprintf("%d×%d×%d", x, y, z)
	case y > 1:
		return fmt.Sprintf("%d×%d", x, y)
	}
	return fmt.Sprint(x)
}

func blocksOf(d cuda.Dim3) int { return max(d.X, 1) * max(d.Y, 1) * max(d.Z, 1) }

func appendNew(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}
