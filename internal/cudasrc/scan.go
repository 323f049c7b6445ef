// Package cudasrc scans the CUDA kernel sources of kernels/src for the two
// generators that consume them: cuda/sim's (which compiles them into the CPU
// simulator) and cmd/kernelgen (which compiles them with nvcc into the
// embedded fatbin). Both must agree on which kernels exist, so both use this
// one scanner.
//
// [Scan] finds every extern "C" __global__ kernel of a .cu file with its
// parameter names and __launch_bounds__, and rejects sources that leave the
// CUDA subset the simulator implements (docs/CUDASIM.md
// section 7) where a pattern shows it: includes other than the shared
// headers of the same directory (compat.cuh and the *.cuh device helpers,
// [Headers]), __CUDA_ARCH__, inline asm, host launches, extern __shared__, cooperative
// groups, __activemask and the legacy non-_sync warp functions, clocks,
// sleeps, textures and surfaces. [ScanDir] scans a directory's *.cu files in
// sorted order and rejects a kernel name defined twice, as the linker would.
package cudasrc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Header is the header every kernel source and shared header includes
// first: it maps CUDA to nvcc or to the simulator.
const Header = "compat.cuh"

// Headers returns the paths of the shared headers of dir: Header first, then
// every other *.cuh file (one copy of each device helper that several
// kernel sources use), sorted. Each is checked like a kernel source and
// must not define kernels. The generators include them all, in this order,
// at global scope before any source (every header has #pragma once, so a
// source's own #include of one is then empty and the helper exists once per
// translation unit), and record their hashes, since a change to any of them
// may change every kernel.
func Headers(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.cuh"))
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool {
		bi, bj := filepath.Base(files[i]), filepath.Base(files[j])
		if (bi == Header) != (bj == Header) {
			return bi == Header
		}
		return bi < bj
	})
	if len(files) == 0 || filepath.Base(files[0]) != Header {
		return nil, fmt.Errorf("%s: no %s", dir, Header)
	}
	for _, f := range files[1:] {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		code := stripComments(string(data))
		if err := checkSubset(f, code); err != nil {
			return nil, err
		}
		if loc := globalRE.FindStringIndex(blankStrings(code)); loc != nil {
			return nil, fmt.Errorf("%s:%d: shared headers hold device helpers only; kernels live in .cu files", filepath.Base(f), 1+strings.Count(code[:loc[0]], "\n"))
		}
	}
	return files, nil
}

// Kernel is one extern "C" __global__ kernel of a source.
type Kernel struct {
	Name   string
	Params []string // parameter names, "" where a parameter is unnamed
	Bounds string   // first argument of __launch_bounds__, "" if none
}

// Source is one scanned .cu file.
type Source struct {
	Path    string // the path it was read from
	SHA256  string // hex SHA-256 of the file's bytes
	Kernels []Kernel
}

// Namespace returns prefix followed by the file's base name without ".cu",
// every character other than an ASCII letter, digit or underscore replaced
// by '_': the C++ namespace a generated translation unit wraps the file in,
// so that the static helpers of different files cannot collide.
func (s *Source) Namespace(prefix string) string {
	b := []byte(strings.TrimSuffix(filepath.Base(s.Path), ".cu"))
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return prefix + string(b)
}

// ScanDir scans every *.cu file of dir, in sorted order. A kernel name
// defined in two files is an error naming both (by base name, as Scan's
// errors do).
func ScanDir(dir string) ([]*Source, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.cu"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var srcs []*Source
	seen := map[string]string{}
	for _, f := range files {
		src, err := Scan(f)
		if err != nil {
			return nil, err
		}
		for _, k := range src.Kernels {
			if prev, ok := seen[k.Name]; ok {
				return nil, fmt.Errorf("%s: kernel %s is also defined in %s", filepath.Base(f), k.Name, filepath.Base(prev))
			}
			seen[k.Name] = f
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// Names returns the names of every kernel of srcs, sorted.
func Names(srcs []*Source) []string {
	names := []string{}
	for _, s := range srcs {
		for _, k := range s.Kernels {
			names = append(names, k.Name)
		}
	}
	sort.Strings(names)
	return names
}

// HashFile returns the hex SHA-256 of the file at path.
func HashFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

var (
	kernelRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+` +
		`(?:__launch_bounds__\s*\(([^)]*)\)\s*)?void\s+(?:__launch_bounds__\s*\(([^)]*)\)\s*)?` +
		`([A-Za-z_]\w*)\s*\(`)
	globalRE  = regexp.MustCompile(`\b__global__\b`)
	includeRE = regexp.MustCompile(`(?m)^[ \t]*#[ \t]*include[ \t]*(\S+)`)
	identRE   = regexp.MustCompile(`[A-Za-z_]\w*$`)

	// forbidden maps a pattern to why it is rejected (docs/CUDASIM.md section 7).
	forbidden = []struct {
		re  *regexp.Regexp
		why string
	}{
		{regexp.MustCompile(`\b__CUDA_ARCH__\b`), "kernels must not branch on __CUDA_ARCH__ (rule 1)"},
		{regexp.MustCompile(`\b(asm|__asm__|__asm)\b`), "inline PTX asm cannot be simulated (rule 8)"},
		{regexp.MustCompile(`<<<`), "kernel sources hold device code only; launches come from Go (rule 1)"},
		{regexp.MustCompile(`\bextern\s+__shared__`), "declare dynamic shared memory with CUDA_DYN_SMEM(T, name) (rule 5)"},
		{regexp.MustCompile(`\bcooperative_groups\b|\bthis_grid\b|\bgrid_group\b`), "cooperative groups are not simulated (rule 4)"},
		{regexp.MustCompile(`\b__activemask\b|\b__match_(any|all)_sync\b`), "the simulator cannot know hardware convergence (rule 4)"},
		{regexp.MustCompile(`\b(__shfl|__shfl_up|__shfl_down|__shfl_xor|__ballot|__any|__all)\s*\(`), "use the _sync warp functions (rule 4)"},
		{regexp.MustCompile(`\b(clock|clock64|__nanosleep|__trap)\s*\(`), "clocks, sleeps and traps are not simulated (rule 8)"},
		{regexp.MustCompile(`\b(tex1Dfetch|tex1D|tex2D|tex3D|surf1Dwrite|surf2Dwrite|cudaTextureObject_t|cudaSurfaceObject_t)\b`), "textures and surfaces are not simulated (rule 8)"},
	}
)

// Scan reads one .cu file, checks it against the simulator's CUDA subset and
// returns its kernels.
func Scan(path string) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	src := &Source{Path: path, SHA256: hex.EncodeToString(sum[:])}
	code := stripComments(string(data))
	name := filepath.Base(path)
	lineOf := func(off int) int { return 1 + strings.Count(code[:off], "\n") }
	if err := checkSubset(path, code); err != nil {
		return nil, err
	}
	blank := blankStrings(code)

	matches := kernelRE.FindAllStringSubmatchIndex(code, -1)
	if n := len(globalRE.FindAllStringIndex(blank, -1)); n != len(matches) {
		for _, loc := range globalRE.FindAllStringIndex(blank, -1) {
			ok := false
			for _, m := range matches {
				if loc[0] >= m[0] && loc[0] < m[1] {
					ok = true
				}
			}
			if !ok {
				return nil, fmt.Errorf("%s:%d: every kernel must be declared extern \"C\" __global__ void NAME(...) so that it can be found by name", name, lineOf(loc[0]))
			}
		}
	}
	index := map[string]int{}
	for _, m := range matches {
		k := Kernel{Name: code[m[6]:m[7]]}
		for _, g := range [][2]int{{m[2], m[3]}, {m[4], m[5]}} {
			if g[0] >= 0 {
				k.Bounds = strings.TrimSpace(splitTop(code[g[0]:g[1]])[0])
			}
		}
		open := m[1] - 1
		end := matchParen(code, open)
		if end < 0 {
			return nil, fmt.Errorf("%s:%d: unbalanced parameter list of %s", name, lineOf(open), k.Name)
		}
		k.Params = paramNames(code[open+1 : end])
		if i, ok := index[k.Name]; ok { // a declaration and its definition: keep the later names
			src.Kernels[i] = k
			continue
		}
		index[k.Name] = len(src.Kernels)
		src.Kernels = append(src.Kernels, k)
	}
	return src, nil
}

// localHeaderRE matches the include of a shared header: a quoted *.cuh
// file name without a directory.
var localHeaderRE = regexp.MustCompile(`^"[A-Za-z0-9_]+\.cuh"$`)

// checkSubset rejects includes other than a shared header (a plain *.cuh
// name, which the compilers look up next to path) and the forbidden patterns
// in code (path's text, comments stripped).
func checkSubset(path, code string) error {
	name := filepath.Base(path)
	lineOf := func(off int) int { return 1 + strings.Count(code[:off], "\n") }
	for _, m := range includeRE.FindAllStringSubmatchIndex(code, -1) {
		inc := code[m[2]:m[3]]
		if !localHeaderRE.MatchString(inc) {
			return fmt.Errorf("%s:%d: #include %s: kernel sources include only \"compat.cuh\" and the shared *.cuh headers of their directory (docs/CUDASIM.md section 7 rule 1)", name, lineOf(m[0]), inc)
		}
	}
	blank := blankStrings(code)
	for _, f := range forbidden {
		if loc := f.re.FindStringIndex(blank); loc != nil {
			return fmt.Errorf("%s:%d: %q: %s", name, lineOf(loc[0]), blank[loc[0]:loc[1]], f.why)
		}
	}
	return nil
}

// stripComments replaces comments with spaces (newlines kept), leaving string
// and character literals alone.
func stripComments(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"' || b[i] == '\'':
			q := b[i]
			for i++; i < len(b) && b[i] != q && b[i] != '\n'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			b[i], b[i+1] = ' ', ' '
			for i += 2; i < len(b) && !(b[i] == '*' && i+1 < len(b) && b[i+1] == '/'); i++ {
				if b[i] != '\n' {
					b[i] = ' '
				}
			}
			if i+1 < len(b) {
				b[i], b[i+1] = ' ', ' '
				i++
			}
		}
	}
	return string(b)
}

// blankStrings replaces the contents of string and character literals with
// spaces, so that patterns never match text inside them.
func blankStrings(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] != '"' && b[i] != '\'' {
			continue
		}
		q := b[i]
		for i++; i < len(b) && b[i] != q && b[i] != '\n'; i++ {
			if b[i] == '\\' && i+1 < len(b) {
				b[i] = ' '
				i++
			}
			b[i] = ' '
		}
	}
	return string(b)
}

func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitTop splits s at commas outside (), [], {} and <>.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{', '<':
			depth++
		case ')', ']', '}', '>':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func paramNames(list string) []string {
	list = strings.TrimSpace(list)
	if list == "" || list == "void" {
		return nil
	}
	var names []string
	for _, p := range splitTop(list) {
		p = strings.TrimSpace(p)
		if i := strings.IndexByte(p, '['); i >= 0 {
			p = strings.TrimSpace(p[:i])
		}
		name := identRE.FindString(p)
		// A lone type ("float*", "int") has no name.
		if name == "" || name == strings.TrimSpace(p) || isTypeWord(name) {
			name = ""
		}
		names = append(names, name)
	}
	return names
}

func isTypeWord(w string) bool {
	switch w {
	case "int", "unsigned", "float", "double", "char", "short", "long", "bool", "const", "signed", "void", "__restrict__":
		return true
	}
	return false
}
