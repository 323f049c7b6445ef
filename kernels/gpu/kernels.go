package gpu

import "github.com/nextconv/nextconv/kernels/bin"

// Kernels lists the kernels New resolves from the module: every extern "C"
// __global__ kernel of kernels/src, as the generated manifest records them.
var Kernels = bin.Kernels
