//go:build cgo

// Package dynlib opens shared libraries at run time (dlopen, dlsym), so that
// a binary can use whichever of several ABI versions of a library the
// machine has, without linking any of them. The CUDA driver uses it for
// cuBLAS and cuBLASLt, which ship one soname per CUDA major version
// (libcublas.so.13, .12, .11). It has no CUDA dependency and builds
// wherever cgo does.
package dynlib

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// dlerror's message lives in a thread-local buffer that the next dl* call
// may overwrite; these return it together with the result, from one call
// on one thread.
static void* nc_dlopen(const char* path, const char** err) {
	dlerror();
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	*err = h ? NULL : dlerror();
	return h;
}
static void* nc_dlsym(void* h, const char* name, const char** err) {
	dlerror();
	void* p = dlsym(h, name);
	*err = dlerror();
	return p;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// Spec says where to look for a library.
type Spec struct {
	// Name is the library's name in error messages ("cuBLAS").
	Name string
	// Env names an environment variable that, when set and not empty,
	// holds the only path tried (an override for a library outside the
	// dynamic linker's search path).
	Env string
	// Candidates are tried in order: sonames (searched as dlopen(3)
	// searches: LD_LIBRARY_PATH, the ld.so cache, /lib, /usr/lib) or paths.
	Candidates []string
}

// Attempt is one path Open tried and the dynamic linker's reason for
// rejecting it (dlerror(3)).
type Attempt struct {
	Path, Err string
}

// LoadError is returned by Open when no candidate loads. It lists every
// attempt in order.
type LoadError struct {
	Spec  Spec
	Tried []Attempt
}

// Error names the library, each path tried with its dlerror, and how to
// point Open at the library.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot load %s; tried:", e.Spec.Name)
	for _, a := range e.Tried {
		fmt.Fprintf(&b, "\n\t%s: %s", a.Path, a.Err)
	}
	if v := os.Getenv(e.Spec.Env); e.Spec.Env != "" && v != "" {
		fmt.Fprintf(&b, "\n(%s=%s was set, so nothing else was tried)", e.Spec.Env, v)
	} else if e.Spec.Env != "" {
		fmt.Fprintf(&b, "\ninstall one of them (a directory in LD_LIBRARY_PATH or the ld.so cache) or set %s to its path", e.Spec.Env)
	}
	return b.String()
}

// Library is an open shared library. It stays loaded for the life of the
// process unless closed.
type Library struct {
	// Path is the candidate (or override) that loaded.
	Path   string
	handle unsafe.Pointer
}

// Open loads the first library of s that the dynamic linker accepts: the
// path in s.Env when that variable is set (and then nothing else), else
// each of s.Candidates in turn. Symbols are bound at once (RTLD_NOW) and
// kept private to the library (RTLD_LOCAL). When none loads it returns a
// *LoadError listing every attempt.
func Open(s Spec) (*Library, error) {
	candidates := s.Candidates
	if v := os.Getenv(s.Env); s.Env != "" && v != "" {
		candidates = []string{v}
	}
	e := &LoadError{Spec: s}
	for _, path := range candidates {
		h, err := dlopen(path)
		if err == "" {
			return &Library{Path: path, handle: h}, nil
		}
		e.Tried = append(e.Tried, Attempt{Path: path, Err: err})
	}
	if len(candidates) == 0 {
		e.Tried = append(e.Tried, Attempt{Path: "(none)", Err: "no candidate paths"})
	}
	return nil, e
}

func dlopen(path string) (unsafe.Pointer, string) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var msg *C.char
	h := C.nc_dlopen(cs, &msg)
	if h == nil {
		if msg == nil {
			return nil, "dlopen failed"
		}
		return nil, C.GoString(msg)
	}
	return h, ""
}

// Symbol is a function or variable that Resolve looks up, and where it
// stores the address.
type Symbol struct {
	Name string
	Addr *unsafe.Pointer
}

// Lookup returns the address of the symbol name, or an error naming it and
// the library.
func (l *Library) Lookup(name string) (unsafe.Pointer, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var msg *C.char
	p := C.nc_dlsym(l.handle, cs, &msg)
	if msg != nil {
		return nil, fmt.Errorf("%s: symbol %s: %s", l.Path, name, C.GoString(msg))
	}
	if p == nil {
		return nil, fmt.Errorf("%s: symbol %s is null", l.Path, name)
	}
	return p, nil
}

// Resolve looks up every symbol of syms and stores its address. It returns
// an error naming the library and every symbol it lacks (then no address
// is stored).
func (l *Library) Resolve(syms []Symbol) error {
	addrs := make([]unsafe.Pointer, len(syms))
	var missing []string
	for i, s := range syms {
		p, err := l.Lookup(s.Name)
		if err != nil {
			missing = append(missing, s.Name)
			continue
		}
		addrs[i] = p
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %s (not the library expected, or too old)", l.Path, strings.Join(missing, ", "))
	}
	for i, s := range syms {
		*s.Addr = addrs[i]
	}
	return nil
}

// Close unloads the library (dlclose). Addresses resolved from it must not
// be used afterwards.
func (l *Library) Close() error {
	if l.handle == nil {
		return nil
	}
	h := l.handle
	l.handle = nil
	if C.dlclose(h) != 0 {
		return fmt.Errorf("dlclose %s: %s", l.Path, C.GoString(C.dlerror()))
	}
	return nil
}
