package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestTrainTwiceInOneProcess runs three short trainings back to back
// through Train (seeds 7, 8, 7): the two seed-7 runs must save bit-identical
// weights, optimizer moments and EMA and report equal results, the seed-8
// run must differ, every hook must be called as documented, and no
// goroutine or file descriptor may outlive the runs.
func TestTrainTwiceInOneProcess(t *testing.T) {
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	type counts struct{ steps, logs, evals int }
	train := func(seed uint64) (Config, Result, counts) {
		c := quickConfig(t, 4)
		c.Train.Seed = seed
		var n counts
		res, err := Train(context.Background(), c, Options{Hooks: Hooks{
			OnStep: func(s StepInfo) error {
				n.steps++
				if s.Step != n.steps || s.Steps != 4 || s.Images != 16 {
					t.Errorf("OnStep call %d got %+v", n.steps, s)
				}
				return nil
			},
			OnLog:  func(l TrainLog) error { n.logs++; return nil },
			OnEval: func(e EvalLog) error { n.evals++; return nil },
		}})
		if err != nil {
			t.Fatal(err)
		}
		return c, res, n
	}
	a, resA, nA := train(7)
	b, _, _ := train(8)
	a2, resA2, _ := train(7)
	if nA.steps != 4 || nA.logs != 2 || nA.evals != 1 {
		t.Errorf("hooks called %+v times, want 4 steps, 2 logs (log_every 2), 1 evaluation", nA)
	}
	if resA.Top1 != resA2.Top1 || resA.Top5 != resA2.Top5 || resA.EMATop1 != resA2.EMATop1 || resA.Steps != 4 {
		t.Errorf("seed 7 twice: %+v then %+v", resA, resA2)
	}
	if !(resA.ImgPerSec > 0) {
		t.Errorf("img/s %v", resA.ImgPerSec)
	}
	last := func(c Config) map[string][]float32 {
		return readState(t, filepath.Join(c.Train.OutDir, "last.safetensors"))
	}
	wa, wa2, wb := last(a), last(a2), last(b)
	same := func(x, y map[string][]float32) bool {
		if len(x) != len(y) {
			return false
		}
		for name, v := range x {
			if string(f32bytes(v)) != string(f32bytes(y[name])) {
				return false
			}
		}
		return true
	}
	if len(wa) < 100 || !same(wa, wa2) {
		t.Error("two seed-7 runs in one process saved different states")
	}
	if same(wa, wb) {
		t.Error("seeds 7 and 8 saved the same state: the runs are not independent of the seed")
	}
	// The loaders' goroutines stop when Run returns; allow them a moment.
	for i := 0; runtime.NumGoroutine() > goroutines && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("%d goroutines after three runs, %d before", g, goroutines)
	}
	if f := openFDs(t); f > fds {
		t.Errorf("%d open files after three runs, %d before", f, fds)
	}
}

// TestHookErrorStopsRun makes OnStep fail at step 2: Train must return the
// hook's error and leave last.safetensors at step 2.
func TestHookErrorStopsRun(t *testing.T) {
	c := quickConfig(t, 4)
	stop := errors.New("enough")
	_, err := Train(context.Background(), c, Options{Hooks: Hooks{OnStep: func(s StepInfo) error {
		if s.Step == 2 {
			return stop
		}
		return nil
	}}})
	if !errors.Is(err, stop) {
		t.Fatalf("Train returned %v, want the hook's error", err)
	}
	if st := storedState(t, filepath.Join(c.Train.OutDir, "last.safetensors")); st.Step != 2 {
		t.Fatalf("last.safetensors holds step %d, want 2", st.Step)
	}
}

// openFDs counts the process's open file descriptors (Linux).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}
