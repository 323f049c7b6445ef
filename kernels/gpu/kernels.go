package gpu

import (
	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels/bin"
)

// Kernels lists the kernels New resolves from the module: every extern "C"
// __global__ kernel of kernels/src, as the generated manifest records them.
var Kernels = bin.Kernels

// Image is the kernel module of kernels/src that cuda.New loads on a GPU:
// kernels/bin's fatbin (SASS for sm_80 to sm_90 and compute_80 PTX) and the
// kernels it holds.
var Image = cuda.Image{
	Data:     bin.Image,
	Kernels:  bin.Kernels,
	Compiler: "nvcc " + bin.NVCCVersion,
	Flags:    bin.Flags,
	Rebuild:  "run go generate ./kernels/...",
}
