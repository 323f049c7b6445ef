// Command simgen writes the registry file that compiles CUDA kernel sources
// into the CPU simulator; see package gen. go generate runs it:
//
//	go generate ./cuda/sim/...
//
// With -check it writes nothing and exits with status 1 when the file on
// disk differs from what it would write.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nextconv/nextconv/cuda/sim/internal/gen"
)

func main() {
	var cfg gen.Config
	var extra string
	check := flag.Bool("check", false, "report a stale output file instead of writing it")
	flag.StringVar(&cfg.Group, "group", "kernels", "source group recorded with the hashes")
	flag.StringVar(&cfg.SrcDir, "src", "", "directory of the *.cu sources")
	flag.StringVar(&cfg.OutFile, "out", "", "generated C++ file")
	flag.StringVar(&extra, "hash", "", "comma-separated further files whose changes must rebuild the output")
	flag.Parse()
	if cfg.SrcDir == "" || cfg.OutFile == "" {
		fmt.Fprintln(os.Stderr, "usage: simgen -src DIR -out FILE [-group NAME] [-hash FILES] [-check]")
		os.Exit(2)
	}
	if extra != "" {
		cfg.Extra = strings.Split(extra, ",")
	}
	data, err := gen.Generate(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simgen:", err)
		os.Exit(1)
	}
	if *check {
		old, _ := os.ReadFile(cfg.OutFile)
		if !bytes.Equal(old, data) {
			fmt.Fprintf(os.Stderr, "simgen: %s is stale; run go generate ./cuda/sim/...\n", cfg.OutFile)
			os.Exit(1)
		}
		return
	}
	if err := os.WriteFile(cfg.OutFile, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "simgen:", err)
		os.Exit(1)
	}
}
