package main

import (
	"context"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runWithMetrics returns a run directory holding metrics.jsonl with src.
func runWithMetrics(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fixture_run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPlot draws the plot package's fixture run to RUN/curves.png and,
// with -o before or after the run, to another file: 1200×900 PNGs.
func TestPlot(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "trainer", "plot", "testdata", "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := runWithMetrics(t, string(src))
	other := filepath.Join(t.TempDir(), "c.png")
	for _, args := range [][]string{{dir}, {dir, "-o", other}, {"-o", other, filepath.Join(dir, "metrics.jsonl")}} {
		want := filepath.Join(dir, "curves.png")
		if len(args) > 1 {
			want = other
		}
		os.Remove(want)
		if code := run(context.Background(), append([]string{"plot"}, args...)); code != 0 {
			t.Fatalf("train plot %v: exit status %d", args, code)
		}
		f, err := os.Open(want)
		if err != nil {
			t.Fatalf("train plot %v: %v", args, err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 1200 || cfg.Height != 900 {
			t.Errorf("train plot %v wrote %s: %d×%d, %v", args, want, cfg.Width, cfg.Height, err)
		}
	}
}

// TestPlotErrors: a missing run, a malformed metrics line, an extra
// argument and an interrupt are errors that name the problem and write
// nothing; -h is not an error.
func TestPlotErrors(t *testing.T) {
	ctx := context.Background()
	bad := runWithMetrics(t, `{"kind":"train","step":1,"loss":2}`+"\n"+`{"kind":"eval","step":1,"top1":"high"}`+"\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(t.TempDir(), "nothing")}, "no such file"},
		{[]string{bad}, "metrics.jsonl line 2: not a JSON object"},
		{[]string{bad, "stray"}, `unexpected argument "stray"`},
		{nil, "a run directory is required"},
	} {
		err := plotRun(ctx, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train plot %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(bad, "curves.png")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a malformed metrics.jsonl left a picture")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	good := runWithMetrics(t, `{"kind":"train","step":1,"loss":2}`+"\n")
	if err := plotRun(cancelled, []string{good}); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(good, "curves.png")); !errors.Is(err, os.ErrNotExist) {
		t.Error("an interrupted plot wrote its picture")
	}
	if err := plotRun(ctx, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
