package sim

// Hooks for the external tests in package sim_test.
var (
	SetForceThreads = setForceThreads
	SetStrict       = setStrict
	SetTimeout      = setTimeout
	ASanBuild       = asanBuild
	Staleness       = staleness
	FindModuleRoot  = findModuleRoot
)

// Threaded reports whether the simulator has recorded kernel name as one that
// needs a thread per CUDA thread.
func Threaded(name string) bool {
	k, err := lookup(name)
	if err != nil {
		return false
	}
	return threaded(k.index)
}
