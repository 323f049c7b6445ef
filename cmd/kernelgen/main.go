// Command kernelgen compiles the CUDA kernels of kernels/src with nvcc into
// one fatbin and writes the Go manifest that describes it; go generate runs
// it from kernels/bin:
//
//	go generate ./kernels/...
//
// It scans the sources with internal/cudasrc (the scanner cuda/sim's
// generator uses, so the simulator and the GPU module hold the same
// kernels), compiles them as one translation unit with every source in its
// own namespace (as the simulator does, so file-local helpers of two files
// may share a name) and writes, into -out:
//
//   - kernels.fatbin: SASS for sm_80, sm_86, sm_89 and sm_90 and PTX for
//     compute_80 (a JIT fallback for newer GPUs), built with -O3 and without
//     --use_fast_math, images compressed; cuobjdump then checks that every
//     architecture holds exactly the kernels the scanner found;
//   - manifest.go: the sorted kernel names, the nvcc version, the flags and
//     the SHA-256 of every source and shared header (compat.cuh, *.cuh).
//
// Both files are committed, so building with -tags cuda never needs nvcc.
// The build is nearly reproducible: the same sources and nvcc give the same
// PTX in any directory and process (the translation unit and its stub get
// fixed names, see UnitName) for every kernel but the ones nvcc 11.8's front
// end emits in one of two forms from run to run (nondeterministicPTX), whose
// SASS differs too; -check therefore compares bytes and, when only the
// fatbin's differ under an unchanged manifest, the PTX it embeds
// (cuobjdump -ptx) kernel by kernel, those kernels aside. The generator
// insists on the
// nvcc release it is pinned to (CUDA 11.8, what Debian 12 packages and CI
// has) unless -any-nvcc is given, because the fatbin's SASS needs a driver
// of that CUDA major version or newer.
//
// Other modes:
//
//	kernelgen -check   rebuild into a temporary directory and fail when
//	                   kernels.fatbin or manifest.go differ from the result
//	                   (the fatbin from each of up to three rebuilds)
//	kernelgen -ptxas   compile every kernel for sm_80, sm_86, sm_89 and sm_90 with
//	                   -Xptxas -v, print registers, shared memory, stack
//	                   frame and spills per kernel, and fail when any kernel
//	                   spills or uses local memory (scripts/ptxas-report.sh)
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var cfg Config
	flag.StringVar(&cfg.SrcDir, "src", "", "directory of the *.cu kernel sources and the shared *.cuh headers")
	flag.StringVar(&cfg.OutDir, "out", "", "directory receiving kernels.fatbin and manifest.go")
	flag.StringVar(&cfg.NVCC, "nvcc", "", "nvcc to run (default: nvcc on PATH)")
	flag.BoolVar(&cfg.AnyNVCC, "any-nvcc", false, "accept an nvcc release other than "+PinnedRelease)
	check := flag.Bool("check", false, "rebuild into a temporary directory and report differences instead of writing")
	ptxas := flag.Bool("ptxas", false, "print per-kernel ptxas resource usage for sm_80, sm_86, sm_89 and sm_90; fail on spills or local memory")
	flag.Parse()
	if cfg.SrcDir == "" || (cfg.OutDir == "" && !*ptxas) || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kernelgen -src DIR -out DIR [-nvcc PATH] [-any-nvcc] [-check]\n       kernelgen -src DIR -ptxas [-nvcc PATH]")
		os.Exit(2)
	}
	var err error
	switch {
	case *ptxas:
		err = reportPTXAS(cfg, os.Stdout)
	case *check:
		err = Check(cfg)
	default:
		err = Generate(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelgen:", err)
		os.Exit(1)
	}
}
