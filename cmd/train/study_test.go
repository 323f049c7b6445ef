package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestStudyCommandErrors: train study without -config, with a candidate
// asking for pruning without [study] prune_steps and with a missing file exits with status 1 before
// training anything; -h exits 0.
func TestStudyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	pruned := filepath.Join(dir, "pruned.toml")
	src := "[study]\nout_dir = \"" + filepath.Join(dir, "out") + "\"\n[data]\ndataset = \"fashion-mnist\"\n" +
		"[model]\nstem_patch = 2\n[[candidate]]\nname = \"p\"\nprune_ratio = 0.3\n"
	if err := os.WriteFile(pruned, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"study"}, 1},
		{[]string{"study", "-config", pruned}, 1},
		{[]string{"study", "-config", filepath.Join(dir, "missing.toml")}, 1},
		{[]string{"study", "-h"}, 0},
	} {
		if code := run(context.Background(), tc.args); code != tc.code {
			t.Errorf("train %v: exit status %d, want %d", tc.args, code, tc.code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a refused study created its out_dir")
	}
}
