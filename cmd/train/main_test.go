package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
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
		{"-h"}, {"-help"}, {"help"}, {"fit", "-h"}, {"pretrain", "-h"},
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
		"fit": fit, "pretrain": pretrain, "eval": eval, "bench": bench, "forward": forward, "profile": profile, "export": export,
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

// proxyRecorder listens on 127.0.0.1 as the command's HTTP(S) proxy and
// counts the connections it receives (closing each at once), so a test sees
// any attempt to reach the network.
func proxyRecorder(t *testing.T) (url string, conns func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return "http://" + l.Addr().String(), func() int { return int(n.Load()) }
}

// runCommand runs the command as a process with every HTTP(S) request sent
// to proxy, and returns its exit status and standard error.
func runCommand(t *testing.T, proxy string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"TRAIN_TEST_MAIN=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		cmd.Env = append(cmd.Env, k+"="+proxy)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestEvalNeverDownloads: a checkpoint whose stored run configuration says
// download = true into a root of its choosing must make `train eval` fail
// on the missing data without creating that root or opening a connection.
// The same download asked for by the user's own -config does go to the
// network (the control that shows the proxy would have seen it).
func TestEvalNeverDownloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the command as a process")
	}
	proxy, conns := proxyRecorder(t)
	planted := filepath.Join(t.TempDir(), "planted", "dir")
	stored := trainer.Default()
	stored.Data.Download, stored.Data.Root = true, planted
	ckpt := saveCheckpoint(t, stored)
	code, stderr := runCommand(t, proxy, "eval", "-checkpoint", ckpt)
	if code != 1 || !strings.Contains(stderr, planted) {
		t.Errorf("eval: exit status %d, stderr %q; want 1 and an error naming the missing data in %s", code, stderr, planted)
	}
	if _, err := os.Stat(filepath.Dir(planted)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("eval created %s (stat: %v)", filepath.Dir(planted), err)
	}
	if n := conns(); n != 0 {
		t.Errorf("eval opened %d connections", n)
	}

	mine := filepath.Join(t.TempDir(), "mine")
	user := stored
	user.Data.Root = mine
	cfgPath := filepath.Join(t.TempDir(), "user.toml")
	if err := os.WriteFile(cfgPath, []byte(user.TOML()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := runCommand(t, proxy, "eval", "-checkpoint", ckpt, "-config", cfgPath); code != 1 || conns() == 0 {
		t.Errorf("eval -config with download = true: exit status %d, %d connections, stderr %q; want a download attempt", code, conns(), stderr)
	}
}

// TestHugeCheckpointRefused: 1 KB checkpoints whose stored model config
// announces billions of parameters are refused by eval and forward with an
// error naming the problem, having allocated a few MB at most, in a child
// process under a 768 MiB address-space limit.
func TestHugeCheckpointRefused(t *testing.T) {
	testutil.RunBounded(t, 768<<20, func(t *testing.T) {
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
	})
}

// TestFitRefusesHugeModel: `-set model.phi=50` (and a φ within the depth
// bounds but over the parameter budget) is refused while the configuration
// is checked, before the dataset is read or anything is allocated.
func TestFitRefusesHugeModel(t *testing.T) {
	cfg := filepath.Join("..", "..", "configs", "fashion_mnist.toml")
	for set, want := range map[string]string{
		"model.phi=50":          "compound scaling by φ=50",
		"model.phi=20":          "-max-params",
		"model.num_classes=-10": "model.num_classes = -10",
	} {
		var err error
		alloc := testutil.Allocated(func() { err = fit(context.Background(), []string{"-config", cfg, "-set", set}) })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-set %s: got %v, want an error mentioning %q", set, err, want)
		}
		if alloc > 16<<20 {
			t.Errorf("-set %s: allocated %d bytes before refusing", set, alloc)
		}
	}
}
