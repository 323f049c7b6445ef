//go:build !asan

package gpu

// asanBuild reports a build with -asan; see asan_on_test.go.
const asanBuild = false
