package trainer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestOpenOutDir checks, for each content of out_dir and each of fresh,
// -resume and -overwrite, whether the run may start there and that a
// refusal names the files that hold the run.
func TestOpenOutDir(t *testing.T) {
	ckpt := "not empty"
	cases := []struct {
		name              string
		files             map[string]string
		resume, overwrite bool
		want              string // substring of the error; "" = allowed
	}{
		{"new directory", nil, false, false, ""},
		{"last, fresh", map[string]string{"last.safetensors": ckpt}, false, false, "out_dir holds a run: " + "DIR has last.safetensors;"},
		{"best, fresh", map[string]string{"best.safetensors": ckpt}, false, false, "DIR has best.safetensors;"},
		{"metrics, fresh", map[string]string{metricsFile: "{}\n"}, false, false, "DIR has metrics.jsonl;"},
		{"all, fresh", map[string]string{"last.safetensors": ckpt, "best.safetensors": ckpt, metricsFile: "{}\n"}, false, false,
			"DIR has last.safetensors, best.safetensors, metrics.jsonl; continue it with -resume, replace it with -overwrite"},
		{"empty metrics and a config, fresh", map[string]string{metricsFile: "", configFile: "x"}, false, false, ""},
		{"last, resume", map[string]string{"last.safetensors": ckpt}, true, false, ""},
		{"last and best, overwrite", map[string]string{"last.safetensors": ckpt, "best.safetensors": ckpt}, false, true, ""},
		{"nothing, overwrite", nil, false, true, ""},
		{"nothing, resume", nil, true, false, "last.safetensors does not exist, so there is no run to continue"},
		{"best only, resume", map[string]string{"best.safetensors": ckpt}, true, false, "last.safetensors does not exist"},
		{"resume and overwrite", map[string]string{"last.safetensors": ckpt}, true, true, "exclude each other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "runs", "x")
			os.MkdirAll(dir, 0o755)
			for name, s := range tc.files {
				os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644)
			}
			lock, err := openOutDir(TrainConfig{OutDir: dir, Resume: tc.resume, Overwrite: tc.overwrite}, io.Discard)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				lock.Unlock()
				return
			}
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error containing %q", err, want)
			}
			if strings.Contains(tc.want, "DIR has") && !errors.Is(err, ErrOutDirHoldsRun) {
				t.Errorf("%v does not wrap ErrOutDirHoldsRun", err)
			}
			// A refusal releases the lock: the same directory opens with -overwrite.
			if lock, err := openOutDir(TrainConfig{OutDir: dir, Overwrite: true}, io.Discard); err != nil {
				t.Errorf("after a refusal: %v", err)
			} else {
				lock.Unlock()
			}
		})
	}
}

// TestOpenOutDirRemovesStaleTemps checks that claiming out_dir removes the
// temporary file a killed save left, says so, and keeps the checkpoint.
func TestOpenOutDirRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := ".last.safetensors.tmp-123456"
	os.WriteFile(filepath.Join(dir, stale), []byte("half a checkpoint"), 0o644)
	os.WriteFile(filepath.Join(dir, "last.safetensors"), []byte("whole"), 0o644)
	var log bytes.Buffer
	lock, err := openOutDir(TrainConfig{OutDir: dir, Resume: true}, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if _, err := os.Stat(filepath.Join(dir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if !strings.Contains(log.String(), "removed "+stale) {
		t.Errorf("log %q does not mention the removal", log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "last.safetensors")); string(b) != "whole" {
		t.Errorf("last.safetensors changed: %q", b)
	}
}

// TestResumeWithoutCheckpoint checks that -resume on an empty out_dir is an
// error before any data is loaded, not a silent fresh start.
func TestResumeWithoutCheckpoint(t *testing.T) {
	c := Default()
	c.Train.OutDir, c.Train.Resume = t.TempDir(), true
	c.Data.Root = filepath.Join(t.TempDir(), "no-data") // proves the check comes before loading
	_, err := New(context.Background(), c, cpu.New(), nil)
	if err == nil || !strings.Contains(err.Error(), "last.safetensors does not exist") {
		t.Fatalf("got %v", err)
	}
}

// TestOutDirLockedByRun opens a second run in the out_dir of a live one: it
// must refuse (even with -overwrite) without touching the first run's files,
// and succeed once the first is closed.
func TestOutDirLockedByRun(t *testing.T) {
	c := quickConfig(t, 2)
	first, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(c.Train.OutDir, metricsFile)
	before, _ := os.ReadFile(metrics)
	second := c
	second.Train.Overwrite = true
	_, err = New(context.Background(), second, cpu.New(), nil)
	if !errors.Is(err, ErrOutDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", os.Getpid())) {
		t.Fatalf("second run in a locked out_dir: %v, want ErrOutDirInUse naming PID %d", err, os.Getpid())
	}
	if after, _ := os.ReadFile(metrics); len(before) == 0 || !bytes.Equal(before, after) {
		t.Errorf("the refused run changed metrics.jsonl (%d bytes before, %d after)", len(before), len(after))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := New(context.Background(), second, cpu.New(), nil)
	if err != nil {
		t.Fatalf("after the first run closed: %v", err)
	}
	tr.Close()
}

// TestSecondRunRefused checks that a fresh run refuses an out_dir holding a
// finished run and leaves its best checkpoint byte for byte, and that
// -overwrite replaces the whole run (no metrics of the old one remain).
func TestSecondRunRefused(t *testing.T) {
	c := quickConfig(t, 2)
	if err := run(t, c, 0); err != nil {
		t.Fatal(err)
	}
	best := filepath.Join(c.Train.OutDir, "best.safetensors")
	before, err := os.ReadFile(best)
	if err != nil {
		t.Fatal(err)
	}
	again := c
	again.Train.Seed = 8
	if _, err := New(context.Background(), again, cpu.New(), nil); !errors.Is(err, ErrOutDirHoldsRun) {
		t.Fatalf("fresh run over a finished one: %v", err)
	}
	if after, _ := os.ReadFile(best); !bytes.Equal(before, after) {
		t.Fatal("the refused run changed best.safetensors")
	}
	again.Train.Overwrite = true
	if err := run(t, again, 0); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(best); bytes.Equal(before, after) {
		t.Error("-overwrite kept the old best.safetensors")
	}
	if n := len(records(t, c.Train.OutDir, "eval")); n != 1 {
		t.Errorf("%d eval records after -overwrite, want the new run's 1", n)
	}
}

// records returns the metrics.jsonl records of the given kind in dir.
func records(t *testing.T, dir, kind string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		if rec["kind"] == kind {
			out = append(out, rec)
		}
	}
	return out
}

// TestChangedSettings is a table test of the comparison between a
// checkpoint's stored configuration and the resuming one.
func TestChangedSettings(t *testing.T) {
	base := Default()
	cases := []struct {
		name   string
		change func(c *Config)
		want   map[string]settingChange
	}{
		{"nothing", func(c *Config) {}, map[string]settingChange{}},
		{"operational keys only", func(c *Config) {
			c.Train.Resume, c.Train.OutDir, c.Train.LogEvery, c.Data.Workers, c.Train.EvalBatchSize = true, "elsewhere", 7, 9, 100
		}, map[string]settingChange{}},
		{"batch, seed and schedule", func(c *Config) {
			c.Train.BatchSize, c.Train.Seed, c.Optim.LR, c.Optim.WarmupEpochs, c.Train.Epochs = 64, 3, 0.001, 0.5, 5
		}, map[string]settingChange{
			"train.batch_size":    {int64(128), int64(64)},
			"train.seed":          {int64(0), int64(3)},
			"optim.lr":            {0.004, 0.001},
			"optim.warmup_epochs": {0.0, 0.5},
			"train.epochs":        {int64(1), int64(5)},
		}},
		{"a list and a string", func(c *Config) { c.QAT.Skip, c.Optim.Name = []string{"stem.0"}, "sgd" }, map[string]settingChange{
			"qat.skip":   {[]any{"stem.0", "head.fc"}, []any{"stem.0"}},
			"optim.name": {"adamw", "sgd"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := base
			cur.QAT.Skip = slices.Clone(base.QAT.Skip)
			tc.change(&cur)
			got, keys, err := changedSettings(base.TOML(), cur.TOML())
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(keys) != len(tc.want) || !slices.IsSorted(keys) {
				t.Errorf("got %v (keys %v), want %v", got, keys, tc.want)
			}
		})
	}
	// A key the stored configuration lacks (written by an older version) is
	// reported as unset there.
	got, _, err := changedSettings("[train]\nseed = 0\n", "[train]\nseed = 0\nnew_key = 2\n")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(map[string]settingChange{"train.new_key": {nil, int64(2)}}) {
		t.Errorf("missing key: %v, %v", got, err)
	}
	if _, _, err := changedSettings("[train\n", base.TOML()); err == nil || !strings.Contains(err.Error(), "stored run configuration") {
		t.Errorf("corrupt stored configuration: %v", err)
	}
}

// TestResumeWarnsChangedSettings resumes with a changed batch size, seed and
// schedule: each changed key must be printed with its old and new value and
// recorded in metrics.jsonl; operational keys must not.
func TestResumeWarnsChangedSettings(t *testing.T) {
	c := quickConfig(t, 4)
	if err := run(t, c, 1); !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	c.Train.Resume = true
	c.Train.BatchSize, c.Train.Seed, c.Optim.LR, c.Optim.WarmupSteps = 8, 8, 0.002, 3
	c.Train.LogEvery, c.Data.Workers = 1, 1
	var log bytes.Buffer
	tr, err := New(context.Background(), c, cpu.New(), &log)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	for _, want := range []string{"optim.lr 0.004 -> 0.002", "optim.warmup_steps 2 -> 3", "train.batch_size 16 -> 8", "train.seed 7 -> 8"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("warning %q missing from %q", want, log.String())
		}
	}
	if strings.Contains(log.String(), "log_every") || strings.Contains(log.String(), "workers") {
		t.Errorf("operational settings reported as changes: %q", log.String())
	}
	recs := records(t, c.Train.OutDir, "resume")
	if len(recs) != 1 || recs[0]["step"] != 1.0 {
		t.Fatalf("resume records %v, want one at step 1", recs)
	}
	changed, _ := recs[0]["changed"].(map[string]any)
	want := map[string][2]float64{"optim.lr": {0.004, 0.002}, "optim.warmup_steps": {2, 3}, "train.batch_size": {16, 8}, "train.seed": {7, 8}}
	if len(changed) != len(want) {
		t.Errorf("recorded changes %v, want %v", changed, want)
	}
	for k, w := range want {
		ch, _ := changed[k].(map[string]any)
		if ch["old"] != w[0] || ch["new"] != w[1] {
			t.Errorf("recorded %s = %v, want old %v new %v", k, changed[k], w[0], w[1])
		}
	}
}

// storedState returns the training state saved in a checkpoint.
func storedState(t *testing.T, path string) State {
	t.Helper()
	meta, err := models.ReadMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal([]byte(meta[metaState]), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestKillBetweenBestAndLast makes the rename of last.safetensors fail right
// after a new best was saved (a directory stands in its way), as a kill
// between the two saves would: best must hold the new best's weights, and a
// run resumed from the older last must take its best top-1 from best, so
// that a worse evaluation never replaces it.
func TestKillBetweenBestAndLast(t *testing.T) {
	c := quickConfig(t, 4)
	c.Train.EvalEvery = 2
	if err := run(t, c, 1); !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	last, best := filepath.Join(c.Train.OutDir, "last.safetensors"), filepath.Join(c.Train.OutDir, "best.safetensors")
	c.Train.Resume = true
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Rename(last, last+".kept")
	os.Mkdir(last, 0o755)
	_, err = tr.Run(context.Background())
	tr.Close()
	if err == nil || !strings.Contains(err.Error(), "last.safetensors") {
		t.Fatalf("saving last into a directory: %v", err)
	}
	os.Remove(last)
	os.Rename(last+".kept", last) // the state a kill between the two renames leaves
	evals := records(t, c.Train.OutDir, "eval")
	if len(evals) != 1 {
		t.Fatalf("eval records %v, want one at step 2", evals)
	}
	top1 := max(evals[0]["top1"].(float64), evals[0]["ema_top1"].(float64))
	if _, err := os.Stat(best); err != nil || top1 == 0 {
		t.Fatalf("best.safetensors after the first evaluation (top-1 %v): %v", top1, err)
	}
	if got := storedState(t, best); got.BestTop1 != top1 || got.Step != 2 {
		t.Errorf("best.safetensors stores step %d best_top1 %v, want step 2 and %v", got.Step, got.BestTop1, top1)
	}
	if st := storedState(t, last); st.Step != 1 || st.BestTop1 != 0 {
		t.Fatalf("last.safetensors: step %d best_top1 %v, want the step-1 state", st.Step, st.BestTop1)
	}
	tr, err = New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if st := tr.State(); st.Step != 1 || st.BestTop1 != top1 {
		t.Errorf("resumed at step %d with best top-1 %v, want step 1 and best.safetensors' %v", st.Step, st.BestTop1, top1)
	}
}

// faultyDataset wraps a dataset and, once more than ok samples were read,
// fails: with an out-of-range label when badLabel is set, else with an
// image error. With one loader worker, samples are read in batch order.
type faultyDataset struct {
	datasets.Dataset
	ok       int64
	badLabel bool
	n        atomic.Int64
}

var errCorruptImage = errors.New("corrupt image")

func (d *faultyDataset) Label(i int) int {
	if d.badLabel && d.n.Add(1) > d.ok {
		return d.Info().NumClasses()
	}
	return d.Dataset.Label(i)
}

func (d *faultyDataset) Image(i int, buf *datasets.Image) (datasets.Image, error) {
	if !d.badLabel && d.n.Add(1) > d.ok {
		return datasets.Image{}, fmt.Errorf("sample %d: %w", i, errCorruptImage)
	}
	return d.Dataset.Image(i, buf)
}

// TestFailureSavesLast checks that a corrupt training image, a bad label and
// a failed evaluation each stop the run with their error after saving
// last.safetensors, with checkpoint_every = 0 and no evaluation before; and
// that the run saved after the bad label resumes bit-identically.
func TestFailureSavesLast(t *testing.T) {
	cases := []struct {
		name   string
		inject func(tr *Trainer)
		want   string
		step   int
	}{
		{"corrupt training image", func(tr *Trainer) { tr.data.Train = &faultyDataset{Dataset: tr.data.Train, ok: 40} }, "corrupt image", 2},
		{"bad label", func(tr *Trainer) { tr.data.Train = &faultyDataset{Dataset: tr.data.Train, ok: 40, badLabel: true} }, "label 10 of sample", 2},
		{"failed evaluation", func(tr *Trainer) { tr.data.Test = &faultyDataset{Dataset: tr.data.Test} }, "corrupt image", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := quickConfig(t, 4)
			c.Data.Workers = 1
			if tc.name == "failed evaluation" {
				c.Train.EvalEvery = 2
			}
			tr, err := New(context.Background(), c, cpu.New(), nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.inject(tr)
			_, err = tr.Run(context.Background())
			tr.Close()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if st := storedState(t, filepath.Join(c.Train.OutDir, "last.safetensors")); st.Step != tc.step {
				t.Errorf("last.safetensors at step %d, want %d", st.Step, tc.step)
			}
			if tc.name != "bad label" {
				return
			}
			c.Train.Resume = true
			if err := run(t, c, 0); err != nil {
				t.Fatal(err)
			}
			whole := quickConfig(t, 4)
			whole.Data.Workers = 1
			if err := run(t, whole, 0); err != nil {
				t.Fatal(err)
			}
			want := readState(t, filepath.Join(whole.Train.OutDir, "last.safetensors"))
			for name, g := range readState(t, filepath.Join(c.Train.OutDir, "last.safetensors")) {
				for i, w := range want[name] {
					if math.Float32bits(g[i]) != math.Float32bits(w) {
						t.Fatalf("%s[%d] = %v resumed after the bad label, %v uninterrupted", name, i, g[i], w)
					}
				}
			}
		})
	}
}

// fullWriter fails every write as a full disk does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }
func (fullWriter) Close() error              { return nil }

// TestRecordWriteError checks that a failed metrics write is an error naming
// the file and the cause.
func TestRecordWriteError(t *testing.T) {
	l := &Logger{out: io.Discard, path: "runs/x/metrics.jsonl", metrics: fullWriter{}}
	err := l.Record(map[string]any{"kind": "train"})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "runs/x/metrics.jsonl") {
		t.Errorf("got %v", err)
	}
}

// TestMetricsWriteErrorStopsRun points metrics.jsonl at /dev/full: the run
// must stop at its first metrics record with an error naming the file.
func TestMetricsWriteErrorStopsRun(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	c := quickConfig(t, 6)
	if err := os.Symlink("/dev/full", filepath.Join(c.Train.OutDir, metricsFile)); err != nil {
		t.Fatal(err)
	}
	tr, err := New(context.Background(), c, cpu.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	_, err = tr.Run(context.Background())
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), metricsFile) {
		t.Fatalf("got %v, want ENOSPC naming %s", err, metricsFile)
	}
	if step := tr.State().Step; step != c.Train.LogEvery {
		t.Errorf("run went on to step %d after the failed write at step %d", step, c.Train.LogEvery)
	}
}
