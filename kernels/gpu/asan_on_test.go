//go:build asan

package gpu

// asanBuild reports a build with -asan (scripts/sim-asan.sh), where the
// simulator leaves out its guard bytes and ASan aborts on an out-of-bounds
// write instead of the simulator reporting it as an error.
const asanBuild = true
