package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ReportArchs are the GPUs the ptxas report compiles for: every SASS
// target of the fatbin (A100, A10/RTX 30xx, L4/L40/RTX 40xx, H100), so
// that a spill or local memory on any of them fails the check.
var ReportArchs = []string{"sm_80", "sm_86", "sm_89", "sm_90"}

// Usage is ptxas's resource report for one function on one architecture.
type Usage struct {
	Arch        string // "sm_80"
	Name        string // symbol name (C++-mangled for device functions)
	Entry       bool   // a __global__ kernel; false for a device function ptxas did not inline
	Registers   int    // registers per thread
	SharedBytes int    // static shared memory per block
	StackBytes  int    // per-thread stack frame (local memory)
	SpillStores int    // bytes of registers spilled to local memory
	SpillLoads  int    // bytes reloaded from spills
	LocalBytes  int    // further local memory ptxas reports as lmem
}

// Problem describes why a function fails the report, or returns "".
func (u Usage) Problem() string {
	var p []string
	if u.SpillStores > 0 || u.SpillLoads > 0 {
		p = append(p, fmt.Sprintf("spills (%d B stores, %d B loads)", u.SpillStores, u.SpillLoads))
	}
	if u.StackBytes > 0 || u.LocalBytes > 0 {
		p = append(p, fmt.Sprintf("uses local memory (%d B stack frame, %d B lmem)", u.StackBytes, u.LocalBytes))
	}
	return strings.Join(p, ", ")
}

var (
	entryRE = regexp.MustCompile(`Compiling entry function '([^']+)' for '(sm_\d+)'`)
	propsRE = regexp.MustCompile(`Function properties for (\S+)`)
	frameRE = regexp.MustCompile(`(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads`)
	usedRE  = regexp.MustCompile(`Used (\d+) registers`)
	smemRE  = regexp.MustCompile(`(\d+) bytes smem`)
	lmemRE  = regexp.MustCompile(`(\d+) bytes lmem`)
)

// parsePTXAS reads the output of nvcc -Xptxas -v for arch. ptxas prints,
// per kernel, "Compiling entry function", then "Function properties" with
// the stack and spill line, then "Used N registers, ..."; a device function
// it did not inline gets only the properties and stack lines.
func parsePTXAS(text, arch string) []Usage {
	var list []*Usage
	byName := map[string]*Usage{}
	get := func(name string) *Usage {
		if u, ok := byName[name]; ok {
			return u
		}
		u := &Usage{Arch: arch, Name: name}
		byName[name] = u
		list = append(list, u)
		return u
	}
	var entry, current *Usage
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if m := entryRE.FindStringSubmatch(line); m != nil {
			entry = get(m[1])
			entry.Entry = true
			current = entry
			continue
		}
		if m := propsRE.FindStringSubmatch(line); m != nil {
			current = get(m[1])
			continue
		}
		if m := frameRE.FindStringSubmatch(line); m != nil && current != nil {
			current.StackBytes, current.SpillStores, current.SpillLoads = atoi(m[1]), atoi(m[2]), atoi(m[3])
			continue
		}
		if m := usedRE.FindStringSubmatch(line); m != nil && entry != nil {
			entry.Registers = atoi(m[1])
			if s := smemRE.FindStringSubmatch(line); s != nil {
				entry.SharedBytes = atoi(s[1])
			}
			if l := lmemRE.FindStringSubmatch(line); l != nil {
				entry.LocalBytes = atoi(l[1])
			}
		}
	}
	res := make([]Usage, len(list))
	for i, u := range list {
		res[i] = *u
	}
	sort.Slice(res, func(i, j int) bool {
		if res[i].Entry != res[j].Entry {
			return res[i].Entry
		}
		return res[i].Name < res[j].Name
	})
	return res
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// writeReport prints usages as a table and returns an error listing every
// function that spills or uses local memory.
func writeReport(w io.Writer, usages []Usage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "arch\tregisters\tsmem B\tstack B\tspill st B\tspill ld B\tlmem B\t  function")
	var bad []string
	for _, u := range usages {
		name := u.Name
		if !u.Entry {
			name += " (device function)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t  %s\n", u.Arch, u.Registers, u.SharedBytes, u.StackBytes, u.SpillStores, u.SpillLoads, u.LocalBytes, name)
		if p := u.Problem(); p != "" {
			bad = append(bad, fmt.Sprintf("%s on %s %s", u.Name, u.Arch, p))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d function(s) spill or use local memory:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}

// reportPTXAS compiles the kernels for every ReportArchs entry with
// -Xptxas -v and writes the table to w.
func reportPTXAS(cfg Config, w io.Writer) error {
	p, err := newPlan(cfg)
	if err != nil {
		return err
	}
	nvcc, version, err := findNVCC(Config{NVCC: cfg.NVCC, AnyNVCC: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ptxas resource usage of %d kernel(s) in %s, nvcc %s\n", len(p.kernels), p.srcRel, version)
	if len(p.kernels) == 0 {
		return nil
	}
	var all []Usage
	for _, arch := range ReportArchs {
		args := append([]string{"-cubin", "-arch=" + arch, "-Xptxas", "-v", "-o", "/dev/null"}, commonFlags(p.srcRel)...)
		out, err := runNVCC(p, nvcc, args, nil)
		if err != nil {
			return err
		}
		usages := parsePTXAS(out, arch)
		found := map[string]bool{}
		for _, u := range usages {
			found[u.Name] = u.Entry
		}
		for _, k := range p.kernels {
			if !found[k] {
				return fmt.Errorf("ptxas reported nothing for kernel %s on %s; its output was:\n%s", k, arch, out)
			}
		}
		all = append(all, usages...)
	}
	return writeReport(w, all)
}
