// Package simtest holds CUDA kernels that test the simulator itself: barrier,
// shuffle, vote, atomic, shared-memory and memory-checking cases, including
// planted bugs. Only cuda/sim's tests import it, so these kernels never reach
// the production registry; they register into the same runtime (the C++
// files of cuda/sim), which this package links by importing cuda/sim.
package simtest

/*
#cgo CXXFLAGS: -std=c++20 -DCUDASIM -Wall -Wno-unknown-pragmas -I${SRCDIR}/../.. -I${SRCDIR}/../../../../kernels/src
*/
import "C"

import _ "github.com/nextconv/nextconv/cuda/sim" // the runtime these kernels register into

//go:generate go run ../gen/simgen -group simtest -src . -out kernels_simtest.cc -hash ../../cuda_sim.h,../../cuda_sim_runtime.h
