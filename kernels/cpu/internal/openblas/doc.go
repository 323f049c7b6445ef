// Package openblas calls OpenBLAS's row-major CBLAS GEMMs through cgo,
// loading libopenblas.so.0 with dlopen at run time so that nothing links
// against it: a machine without the library, or a build without cgo (see
// Available), still builds and runs, and kernels/cpu falls back to gonum.
//
// The library runs its own threads; callers must not call it from several
// goroutines expecting a speed-up.
package openblas

// Soname is the library [Load] is normally given; Debian's libopenblas0
// packages (pthread, openmp, serial) all provide it.
const Soname = "libopenblas.so.0"
