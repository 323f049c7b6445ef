package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
)

// Files of a run in train.out_dir besides the checkpoints.
const (
	lockFile       = "run.lock"         // flock held for the whole run
	metricsFile    = "metrics.jsonl"    // Logger's JSON Lines
	configFile     = "config.toml"      // the resolved configuration
	qatResultsFile = "qat_results.json" // writeQATResults
)

// runFiles are the outputs of a run that train.overwrite removes.
var runFiles = []string{"last.safetensors", "best.safetensors", metricsFile, configFile, qatResultsFile}

// openOutDir creates out_dir, locks it for this run (ErrOutDirInUse while
// another run holds it), removes the temporary files of a save that was
// killed, and checks that the run may start there: train.resume needs
// last.safetensors, and a fresh run refuses a directory holding a run
// (a checkpoint or a non-empty metrics.jsonl) unless train.overwrite is set.
// The caller releases the returned lock.
func openOutDir(tc TrainConfig, log io.Writer) (*fsutil.FileLock, error) {
	dir := tc.OutDir
	if tc.Resume && tc.Overwrite {
		return nil, errors.New("trainer: train.resume and train.overwrite exclude each other: -resume continues the run in out_dir, -overwrite replaces it")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	lock, err := fsutil.Lock(filepath.Join(dir, lockFile))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("trainer: %w: %s is in use by another run (%w); wait for it to finish or choose another train.out_dir", ErrOutDirInUse, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	if err := checkOutDir(tc, log); err != nil {
		lock.Unlock()
		return nil, err
	}
	return lock, nil
}

// checkOutDir is openOutDir's work once out_dir is locked.
func checkOutDir(tc TrainConfig, log io.Writer) error {
	dir := tc.OutDir
	removed, err := fsutil.RemoveStaleTemps(dir)
	if err != nil {
		return fmt.Errorf("trainer: out_dir %s: %w", dir, err)
	}
	for _, name := range removed {
		fmt.Fprintf(log, "removed %s, left in %s by a save that was killed\n", name, dir)
	}
	found := heldRun(dir)
	switch {
	case tc.Resume && !slices.Contains(found, "last.safetensors"):
		return fmt.Errorf("trainer: resume: %s does not exist, so there is no run to continue (start a fresh run without -resume)", filepath.Join(dir, "last.safetensors"))
	case !tc.Resume && !tc.Overwrite && len(found) > 0:
		return fmt.Errorf("trainer: %w: %s has %s; continue it with -resume, replace it with -overwrite, or choose another train.out_dir",
			ErrOutDirHoldsRun, dir, strings.Join(found, ", "))
	}
	return nil
}

// ErrOutDirInUse is wrapped by the error of New when another run holds
// out_dir's lock.
var ErrOutDirInUse = errors.New("out_dir is locked")

// ErrOutDirHoldsRun is wrapped by the error of New when a fresh run would
// replace the run that out_dir holds.
var ErrOutDirHoldsRun = errors.New("out_dir holds a run")

// heldRun returns the files of dir that show it holds a run: a checkpoint
// or a non-empty metrics.jsonl.
func heldRun(dir string) []string {
	var found []string
	for _, name := range []string{"last.safetensors", "best.safetensors", metricsFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Size() > 0 {
			found = append(found, name)
		}
	}
	return found
}

// clearOutDir removes the outputs of the run that out_dir holds, for
// train.overwrite. It refuses when qat.from is one of them, since the
// fine-tuning run would delete the checkpoint it starts from.
func (t *Trainer) clearOutDir(log io.Writer) error {
	dir := t.cfg.Train.OutDir
	from, fromErr := os.Stat(t.cfg.QAT.From)
	var removed []string
	for _, name := range runFiles {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && t.cfg.QAT.Enabled && fromErr == nil && os.SameFile(st, from) {
			return fmt.Errorf("trainer: -overwrite would remove %s, which qat.from fine-tunes: copy it out of out_dir or choose another train.out_dir", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("trainer: overwrite: %w", err)
		}
		removed = append(removed, name)
	}
	if len(removed) > 0 {
		fmt.Fprintf(log, "overwrite: removed the previous run's %s from %s\n", strings.Join(removed, ", "), dir)
	}
	return nil
}

// settingChange is a setting whose value differs between the run that saved
// a checkpoint and the run resuming it, as TOML decodes them.
type settingChange struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// resumeNeutral are the settings that may change on resume without changing
// what is trained.
var resumeNeutral = map[string]bool{
	"train.resume": true, "train.overwrite": true, "train.out_dir": true, "train.time_limit": true,
	"train.log_every": true, "train.eval_batch_size": true, "data.workers": true, "data.prefetch": true,
	"data.download": true,
}

// changedSettings compares the run configuration stored in a checkpoint
// (TOML) with the resuming one and returns every changed setting by its
// "section.key" name, sorted, except those in resumeNeutral. A setting one
// side lacks has a nil value there.
func changedSettings(stored, current string) (map[string]settingChange, []string, error) {
	var old, cur map[string]any
	if _, err := toml.Decode(stored, &old); err != nil {
		return nil, nil, fmt.Errorf("stored run configuration: %w", err)
	}
	if _, err := toml.Decode(current, &cur); err != nil {
		return nil, nil, err
	}
	o, c := map[string]any{}, map[string]any{}
	flatten("", old, o)
	flatten("", cur, c)
	changes := map[string]settingChange{}
	for _, m := range []map[string]any{o, c} {
		for k := range m {
			if !resumeNeutral[k] && !reflect.DeepEqual(o[k], c[k]) {
				changes[k] = settingChange{Old: o[k], New: c[k]}
			}
		}
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return changes, keys, nil
}

// flatten adds the leaves of a decoded TOML table to dst as "a.b.c" keys.
func flatten(prefix string, table map[string]any, dst map[string]any) {
	for k, v := range table {
		if sub, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", sub, dst)
			continue
		}
		dst[prefix+k] = v
	}
}

// warnChangedSettings prints and records in metrics.jsonl the settings that
// changed since the checkpoint being resumed was saved (a "resume" record,
// written on every resume to mark where the metrics continue).
func (t *Trainer) warnChangedSettings(stored string) error {
	rec := map[string]any{"kind": "resume", "step": t.state.Step}
	if stored != "" {
		changes, keys, err := changedSettings(stored, t.cfg.TOML())
		if err != nil {
			return fmt.Errorf("trainer: resume: %s: %w", t.path("last"), err)
		}
		if len(keys) > 0 {
			desc := make([]string, len(keys))
			for i, k := range keys {
				desc[i] = fmt.Sprintf("%s %s -> %s", k, tomlValue(changes[k].Old), tomlValue(changes[k].New))
			}
			t.log.Printf("warning: resuming at step %d with changed settings (the run will differ from an uninterrupted one): %s",
				t.state.Step, strings.Join(desc, ", "))
			rec["changed"] = changes
		}
	}
	return t.log.Record(rec)
}

// tomlValue formats a decoded TOML value as TOML writes it ("unset" for nil).
func tomlValue(v any) string {
	if v == nil {
		return "unset"
	}
	b, err := json.Marshal(v) // TOML's strings, numbers, booleans and arrays read the same in JSON
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// resumeBestTop1 raises the resumed state's best top-1 to the one stored in
// best.safetensors: best is saved before last, so after a kill between the
// two saves best holds a newer best than last records, and a later, worse
// evaluation must not replace it.
func (t *Trainer) resumeBestTop1() error {
	path := t.path("best")
	meta, err := models.ReadMetadata(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trainer: resume: %w", err)
	}
	var st State
	if err := json.Unmarshal([]byte(meta[metaState]), &st); err != nil {
		return fmt.Errorf("trainer: resume: %s: no training state: %w", path, err)
	}
	t.state.BestTop1 = max(t.state.BestTop1, st.BestTop1)
	return nil
}
