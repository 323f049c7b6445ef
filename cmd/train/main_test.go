package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// TestMain runs the command itself when TRAIN_TEST_MAIN is set, so that
// tests can start it as a process and send it signals.
func TestMain(m *testing.M) {
	if os.Getenv("TRAIN_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// tinyConfig is a 10-class, one-channel model small enough to build and
// run in milliseconds (the 2×2 stem takes 28×28 Fashion-MNIST images).
func tinyConfig(t *testing.T) models.Config {
	t.Helper()
	c, err := models.Variant("atto")
	if err != nil {
		t.Fatal(err)
	}
	c.Dims, c.Depths, c.StemPatch, c.InChans, c.NumClasses, c.InputSize = []int{8, 16, 24, 32}, []int{1, 1, 1, 1}, 2, 1, 10, 28
	return c
}

// saveCheckpoint writes a tiny model's checkpoint whose metadata stores run
// as its run configuration (as `train` does).
func saveCheckpoint(t *testing.T, run trainer.Config) string {
	t.Helper()
	m, err := models.New(cpu.New(), tinyConfig(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := m.Save(p, models.Timm, map[string]string{"nextconv.run_config": run.TOML()}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"-help"}, {"help"}, {"fit", "-h"},
		{"eval", "-h"}, {"bench", "-help"}, {"forward", "-h"}, {"profile", "-h"}, {"export", "-help"},
	} {
		if code := run(context.Background(), args); code != 0 {
			t.Errorf("train %s: exit status %d, want 0", strings.Join(args, " "), code)
		}
	}
	if code := run(context.Background(), []string{"frobnicate"}); code != 1 {
		t.Errorf("unknown subcommand: exit status %d, want 1", code)
	}
}

// TestExtraArguments: a positional argument is refused by every
// subcommand, by name, before anything runs.
func TestExtraArguments(t *testing.T) {
	ctx := context.Background()
	for name, f := range map[string]func(context.Context, []string) error{
		"fit": fit, "eval": eval, "bench": bench, "forward": forward, "profile": profile, "export": export,
	} {
		err := f(ctx, []string{"-max-params=1e6", "stray.safetensors", "-h"})
		if err == nil || !strings.Contains(err.Error(), `unexpected argument "stray.safetensors"`) {
			t.Errorf("%s: got %v, want the stray argument named", name, err)
		}
	}
}

// TestInterruptedSubcommands runs each subcommand with its context already
// cancelled (what SIGINT does): each must stop with context.Canceled, and
// so exit status 130, without writing its output file.
func TestInterruptedSubcommands(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	ckpt := saveCheckpoint(t, trainer.Default())
	in := filepath.Join(dir, "x.safetensors")
	if err := models.WriteSafetensors(in, []models.Tensor{{Name: "x", Shape: []int{1, 1, 28, 28}, Data: make([]float32, 28*28)}}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	small := []string{"-model", "atto", "-stem", "2", "-in-chans", "1", "-classes", "10", "-size", "28"}
	for _, tc := range []struct {
		name string
		f    func(context.Context, []string) error
		args []string
	}{
		{"bench", bench, append([]string{"-batch", "2", "-steps", "1000"}, small...)},
		{"profile", profile, append([]string{"-iters", "1000", "-json", out}, small...)},
		{"forward", forward, []string{"-checkpoint", ckpt, "-input", in, "-output", out}},
		{"export", export, []string{"-checkpoint", ckpt, "-output", out}},
		{"eval", eval, []string{"-checkpoint", ckpt}},
	} {
		if err := tc.f(ctx, tc.args); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", tc.name, err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s wrote %s after the interrupt", tc.name, out)
		}
	}
	if code := run(ctx, append([]string{"bench"}, small...)); code != 130 {
		t.Errorf("interrupted bench: exit status %d, want 130", code)
	}
}

// TestSIGINT sends a real SIGINT to the command during a long bench and a
// long profile: each must stop within seconds with exit status 130.
func TestSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the command as a process")
	}
	for _, args := range [][]string{
		{"bench", "-model", "atto", "-stem", "2", "-in-chans", "1", "-classes", "10", "-size", "28", "-batch", "4", "-steps", "1000000"},
		{"profile", "-model", "atto", "-stem", "2", "-in-chans", "1", "-classes", "10", "-size", "28", "-iters", "1000000"},
	} {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "TRAIN_TEST_MAIN=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // past start-up, inside the loop
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("train %s ignored SIGINT for 30 s", args[0])
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("train %s after SIGINT: exit status %d, stderr %q; want 130 and \"interrupted\"", args[0], code, stderr.String())
		}
	}
}

// failingTransport fails every HTTP request and counts them.
type failingTransport struct{ calls *int }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	*f.calls++
	return nil, errors.New("test: network access forbidden: " + r.URL.String())
}

// TestEvalNeverDownloads: a checkpoint whose stored run configuration says
// download = true into a root of its choosing must make `train eval` fail
// on the missing data without creating that root or making a request.
func TestEvalNeverDownloads(t *testing.T) {
	calls := 0
	saved := http.DefaultTransport
	http.DefaultTransport = failingTransport{&calls}
	defer func() { http.DefaultTransport = saved }()

	evil := filepath.Join(t.TempDir(), "planted", "dir")
	run := trainer.Default()
	run.Data.Download, run.Data.Root = true, evil
	ckpt := saveCheckpoint(t, run)
	err := eval(context.Background(), []string{"-checkpoint", ckpt})
	if err == nil || !strings.Contains(err.Error(), evil) {
		t.Errorf("eval: got %v, want an error naming the missing data in %s", err, evil)
	}
	if _, err := os.Stat(filepath.Dir(evil)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("eval created %s (stat: %v)", filepath.Dir(evil), err)
	}
	if calls != 0 {
		t.Errorf("eval made %d HTTP requests", calls)
	}
}

// TestHugeCheckpointRefused: 1 KB checkpoints whose stored model config
// announces billions of parameters are refused by eval and forward with an
// error naming the problem, having allocated a few MB at most.
func TestHugeCheckpointRefused(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.safetensors")
	if err := models.WriteSafetensors(in, []models.Tensor{{Name: "x", Shape: []int{1, 1, 28, 28}, Data: make([]float32, 28*28)}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*models.Config)
		want string
	}{
		{"classes", func(c *models.Config) { c.NumClasses = 2_000_000_000 }, "num_classes 2000000000"},
		{"dims", func(c *models.Config) { c.Dims = []int{1e6, 1e6, 1e6, 1e6} }, "dim 1000000"},
		{"depth", func(c *models.Config) { c.Depths = []int{1, 1, 1e8, 1} }, "depth 100000000"},
		{"params", func(c *models.Config) { c.Dims = []int{8, 16, 24, 40000}; c.NumClasses = 1 << 20 }, "-max-params"},
	} {
		cfg := tinyConfig(t)
		tc.edit(&cfg)
		js, _ := json.Marshal(cfg)
		ckpt := filepath.Join(dir, tc.name+".safetensors")
		meta := map[string]string{models.MetaFormat: "nextconv", models.MetaConfig: string(js), "nextconv.run_config": trainer.Default().TOML()}
		if err := models.WriteSafetensors(ckpt, nil, meta); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(ckpt); st.Size() > 8<<10 {
			t.Fatalf("%s: bomb of %d bytes", tc.name, st.Size())
		}
		for _, args := range [][]string{
			{"eval", "-checkpoint", ckpt},
			{"forward", "-checkpoint", ckpt, "-input", in, "-output", filepath.Join(dir, "out.safetensors")},
		} {
			var err error
			alloc := testutil.Allocated(func() {
				if args[0] == "eval" {
					err = eval(context.Background(), args[1:])
				} else {
					err = forward(context.Background(), args[1:])
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: got %v, want an error mentioning %q", args[0], tc.name, err, tc.want)
			}
			if alloc > 16<<20 {
				t.Errorf("%s %s: allocated %d bytes before refusing", args[0], tc.name, alloc)
			}
		}
	}
}
