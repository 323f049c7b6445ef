package sim_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/cuda/sim/internal/gen"
)

// TestGeneratedFilesUpToDate fails when a kernel source, a shared header or (for
// the self-test kernels) the simulator's headers changed without go generate:
// go build does not track those files, so the compiled simulator would be
// stale. The configurations match the go:generate lines.
func TestGeneratedFilesUpToDate(t *testing.T) {
	for _, cfg := range []gen.Config{
		{Group: "kernels", SrcDir: "../../kernels/src", OutFile: "kernels_sim.cc"},
		{Group: "simtest", SrcDir: "internal/simtest", OutFile: "internal/simtest/kernels_simtest.cc",
			Extra: []string{"cuda_sim.h", "cuda_sim_runtime.h"}},
	} {
		want, err := gen.Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(cfg.OutFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./cuda/sim/...", cfg.OutFile)
		}
	}
}

// TestStaleness checks the comparison sim.New makes between the compiled
// kernels and the sources in the module.
func TestStaleness(t *testing.T) {
	root := sim.FindModuleRoot()
	if root == "" {
		t.Fatal("module root not found")
	}
	if err := sim.Staleness(root, "kernels", "kernels/src"); err != nil {
		t.Fatalf("the compiled kernels do not match the tree: %v", err)
	}
	// A copy of the tree's kernel sources, then changed.
	fake := t.TempDir()
	src := filepath.Join(fake, "kernels", "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, "kernels", "src", "*.cu"))
	if err != nil {
		t.Fatal(err)
	}
	headers, err := filepath.Glob(filepath.Join(root, "kernels", "src", "*.cuh"))
	if err != nil {
		t.Fatal(err)
	}
	var compat string
	for _, f := range append(files, headers...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Base(f), string(data))
		if filepath.Base(f) == "compat.cuh" {
			compat = string(data)
		}
	}
	if err := sim.Staleness(fake, "kernels", "kernels/src"); err != nil {
		t.Errorf("identical tree reported stale: %v", err)
	}
	write("compat.cuh", compat+"\n")
	write("new.cu", "")
	write("new.cuh", "")
	err = sim.Staleness(fake, "kernels", "kernels/src")
	if err == nil {
		t.Fatal("changed and added sources not reported")
	}
	mustContain(t, err.Error(), "kernels/src/compat.cuh changed", "kernels/src/new.cu is not compiled in",
		"kernels/src/new.cuh is not compiled in", "go generate ./cuda/sim/...")
}
