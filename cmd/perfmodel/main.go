// Command perfmodel writes kernels/PERFORMANCE.md, the performance model
// of the CUDA backend: for one training step of ConvNeXt V2-Atto and -Tiny
// at 224×224 and of the Fashion-MNIST model, every kernel launch the
// backend issues with its grid, block, bytes moved, FLOPs and H100
// roofline time, aggregated per kernel, phase and layer group, compared
// with docs/PERFORMANCE.md §4, and the floors to hold the
// GPU benchmarks of scripts/gpu/run.sh against.
//
// Usage:
//
//	go run ./cmd/perfmodel [-o kernels/PERFORMANCE.md]
//
// Without -o the document goes to standard output. It uses only the
// standard library and the project's own packages: the launches are
// recorded by running the real kernels/gpu backend over a driver that
// executes nothing (recorder.go).
package main

//go:generate go run . -o ../../kernels/PERFORMANCE.md

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "", "write the document to this file instead of standard output")
	flag.Parse()
	doc, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfmodel:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.WriteString(doc)
	} else {
		err = os.WriteFile(*out, []byte(doc), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfmodel:", err)
		os.Exit(1)
	}
}
