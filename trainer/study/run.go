package study

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
	"github.com/nextconv/nextconv/trainer/plot"
)

// Result is what the study measured of one candidate.
type Result struct {
	Name      string `json:"name"`
	Model     string `json:"model"`      // model name (variant)
	Backend   string `json:"backend"`    // backend of training and latency
	InputSize int    `json:"input_size"` // side in pixels of the images MACs and latency are measured on
	Params    int    `json:"params"`     // parameter elements (float model)
	MACs      int64  `json:"macs"`       // multiply-accumulates of one image's forward (conv and linear, models.Describe)
	// TrainImgPerSec is training images per second (trainer.Result.ImgPerSec)
	// and TrainSeconds the wall time of the float training, both of its
	// last part when it was resumed.
	TrainImgPerSec float64 `json:"train_img_per_s"`
	TrainSeconds   float64 `json:"train_seconds"`
	Steps          int     `json:"steps"` // optimizer steps of the float training
	// LatencyB1 and LatencyB64 are the median seconds of one inference
	// forward of a batch of 1 and of 64 images (trainer.Latency).
	LatencyB1  float64 `json:"latency_b1_s"`
	LatencyB64 float64 `json:"latency_b64_s"`
	// Top1 and Top5 are the test accuracy in percent of the float model's
	// final weights (the last evaluation, not the best one).
	Top1 float64 `json:"top1"`
	Top5 float64 `json:"top5"`
	// QAT results, present when the candidate asked for qat: the
	// post-training (calibrated only) and quantization-aware fine-tuned
	// test top-1 at the [qat] bit widths (int8 by default), percent.
	QAT      bool    `json:"qat"`
	PTQTop1  float64 `json:"ptq_top1,omitempty"`
	Int8Top1 float64 `json:"int8_top1,omitempty"`
	// Pruning, present when the candidate asked for it: the ratio, and the
	// test top-1 (percent) of the float model before pruning; Params,
	// MACs, latency, Top1 and Top5 are then the pruned, fine-tuned model's.
	PruneRatio   float64 `json:"prune_ratio,omitempty"`
	UnprunedTop1 float64 `json:"unpruned_top1,omitempty"`
	// Fingerprint identifies the configurations the candidate was trained
	// with (fingerprint), so that a re-run can tell a changed study file.
	Fingerprint string `json:"fingerprint"`
}

// Files of a study.
const (
	resultFile   = "result.json"          // in a candidate's directory: its Result, written last (the completed marker)
	trainedFile  = "trained.json"         // in a candidate's directory: the float run's trainer.Result
	metricsFile  = "study.jsonl"          // the study's JSON Lines
	lockFile     = "study.lock"           // held while a study runs in out_dir
	curvesFile   = "curves.png"           // in a candidate's directory
	qatResultRel = "qat/qat_results.json" // in a candidate's directory: the QAT run's accuracies
	// WriteReports' files.
	csvFile     = "results.csv"
	mdFile      = "results.md"
	macsPlot    = "top1_vs_macs.png"
	latencyPlot = "top1_vs_latency.png"
	stepsPlot   = "steps.png" // WriteSteps, with [study] steps_plot
)

// Options are Run's optional inputs.
type Options struct {
	// Log receives progress lines (nil: discarded): the study's ("candidate
	// i of n", ETA) and each run's (a progress bar on a terminal).
	Log io.Writer
	// Remeasure re-measures the inference latencies of candidates finished
	// by an earlier run (nothing is trained again), for a study whose
	// timings were taken while other work shared the machine.
	Remeasure bool
}

// Run trains and measures every candidate of s in turn and writes the
// study's results (WriteReports) into [study] out_dir. A candidate whose
// result.json exists was finished by an earlier run and is skipped; one
// interrupted part-way resumes from its last checkpoint. Progress goes to
// o.Log, and JSON Lines records (candidate start, every evaluation,
// candidate result, with wall times) to out_dir/study.jsonl. It returns
// the results in the candidates' order and the first error, naming the
// candidate (trainer.ErrInterrupted when ctx was cancelled: re-run to
// continue).
func Run(ctx context.Context, s *Study, o Options) ([]Result, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	dir := s.Settings.OutDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	lock, err := fsutil.Lock(filepath.Join(dir, lockFile))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("study: %s is in use by another study: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	defer lock.Unlock()
	if _, err := trainer.LoadData(ctx, s.Recipe.Data); err != nil { // missing data fails before any training
		return nil, fmt.Errorf("study %s: %w", s.Path, err)
	}
	rec, err := openMetrics(filepath.Join(dir, metricsFile))
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	results := make([]Result, len(s.Candidates))
	start, trained, n := time.Now(), 0, len(s.Candidates)
	for i, c := range s.Candidates {
		if r, ok, err := readResult(s.Dir(c)); err != nil {
			return results, fmt.Errorf("study: candidate %q: %w", c.Name, err)
		} else if ok {
			results[i] = r
			fmt.Fprintf(log, "study: candidate %d of %d, %s: done earlier (top-1 %.2f%%), skipped\n", i+1, n, c.Name, r.Top1)
			if r.Fingerprint != fingerprint(s, c) {
				fmt.Fprintf(log, "study: warning: %s was trained with another configuration than the study file now gives it; remove %s to train it again\n", c.Name, s.Dir(c))
			}
			if err := rec.record("candidate_skipped", c.Name, nil); err != nil {
				return results, err
			}
			if o.Remeasure {
				if results[i], err = remeasure(ctx, s, c, r); err != nil {
					return results, fmt.Errorf("study: candidate %q: %w", c.Name, err)
				}
				fmt.Fprintf(log, "study: %s: latency %.2f ms at batch 1 (was %.2f), %.1f ms at batch 64 (was %.1f)\n", c.Name,
					1e3*results[i].LatencyB1, 1e3*r.LatencyB1, 1e3*results[i].LatencyB64, 1e3*r.LatencyB64)
				if err := rec.record("candidate_remeasured", c.Name, map[string]any{"result": results[i]}); err != nil {
					return results, err
				}
			}
			continue
		}
		eta := ""
		if trained > 0 {
			per := time.Since(start) / time.Duration(trained)
			eta = fmt.Sprintf(", ETA %s", (per * time.Duration(n-i)).Round(time.Second))
		}
		fmt.Fprintf(log, "study: candidate %d of %d, %s (elapsed %s%s)\n", i+1, n, c.Name, time.Since(start).Round(time.Second), eta)
		if err := rec.record("candidate_start", c.Name, map[string]any{"index": i + 1, "of": n}); err != nil {
			return results, err
		}
		r, err := runCandidate(ctx, s, c, fmt.Sprintf("%d/%d %s", i+1, n, c.Name), log, rec)
		if err != nil {
			return results, fmt.Errorf("study: candidate %q: %w", c.Name, err)
		}
		results[i] = r
		trained++
		if err := rec.record("candidate_done", c.Name, map[string]any{"result": r}); err != nil {
			return results, err
		}
	}
	if err := WriteReports(dir, results); err != nil {
		return results, err
	}
	if s.Settings.StepsPlot {
		if err := WriteSteps(dir, results); err != nil {
			return results, err
		}
	}
	fmt.Fprintf(log, "study: %d candidates in %s; results in %s\n", n, time.Since(start).Round(time.Second), filepath.Join(dir, mdFile))
	return results, nil
}

// runCandidate trains candidate c (resuming an interrupted run), fine-tunes
// it with QAT if asked, measures it and writes its curves and result.json.
func runCandidate(ctx context.Context, s *Study, c Candidate, label string, log io.Writer, rec *recorder) (Result, error) {
	dir := s.Dir(c)
	var tr trainer.Result
	ok, err := readJSON(filepath.Join(dir, trainedFile), &tr)
	if err != nil {
		return Result{}, err
	}
	if !ok { // the float run is not finished
		if tr, err = train(ctx, s.Config(c), label, log, rec, c.Name, "float"); err != nil {
			return Result{}, err
		}
		if err := writeJSON(filepath.Join(dir, trainedFile), tr); err != nil {
			return Result{}, err
		}
	}
	r := Result{Name: c.Name, Backend: s.Recipe.Train.Backend, TrainImgPerSec: tr.ImgPerSec, TrainSeconds: tr.Seconds,
		Steps: tr.Steps, Top1: tr.Top1, Top5: tr.Top5, QAT: c.QAT, Fingerprint: fingerprint(s, c)}
	mc, err := floatModel(s, c)
	if err != nil {
		return r, err
	}
	if c.Pruned() {
		pr, pmc, err := pruneCandidate(ctx, s, c, label, log, rec)
		if err != nil {
			return r, fmt.Errorf("pruning: %w", err)
		}
		r.UnprunedTop1, r.PruneRatio = tr.Top1, c.PruneRatio
		r.Top1, r.Top5, mc = pr.Top1, pr.Top5, pmc
	}
	if c.QAT {
		if _, err := train(ctx, s.QATConfig(c), label+" QAT", log, rec, c.Name, "qat"); err != nil {
			return r, fmt.Errorf("QAT: %w", err)
		}
		var q trainer.QATResults
		if _, err := readJSON(filepath.Join(dir, qatResultRel), &q); err != nil {
			return r, err
		}
		r.PTQTop1, r.Int8Top1 = q.PTQTop1, q.QATTop1
	}
	if err := measure(ctx, s, c, mc, &r); err != nil {
		return r, err
	}
	if err := writeCurves(dir, c.Name); err != nil {
		return r, err
	}
	return r, writeJSON(filepath.Join(dir, resultFile), r)
}

// train runs one training (trainer.Train), resuming it when its out_dir
// holds a checkpoint, and records its evaluations in the study's metrics.
func train(ctx context.Context, cfg trainer.Config, label string, log io.Writer, rec *recorder, name, phase string) (trainer.Result, error) {
	if _, err := os.Stat(filepath.Join(cfg.Train.OutDir, "last.safetensors")); err == nil {
		cfg.Train.Resume = true
		fmt.Fprintf(log, "study: %s: resuming %s\n", name, cfg.Train.OutDir)
	} else {
		cfg.Train.Overwrite = true // a run killed before its first checkpoint left only metrics
	}
	evaluated := false
	res, err := trainer.Train(ctx, cfg, trainer.Options{Log: log, Label: label, Hooks: trainer.Hooks{
		OnEval: func(e trainer.EvalLog) error {
			evaluated = true
			return rec.record("eval", name, map[string]any{"phase": phase, "step": e.Step, "top1": e.Top1, "top5": e.Top5, "loss": e.Loss})
		},
	}})
	if err != nil || evaluated {
		return res, err
	}
	// A run that had finished before the study was stopped resumes with
	// nothing to do: its accuracy is its last evaluation's.
	m, err := plot.ReadMetricsFile(filepath.Join(cfg.Train.OutDir, "metrics.jsonl"))
	if err != nil {
		return res, err
	}
	if len(m.Eval) == 0 {
		return res, fmt.Errorf("%s: the run finished without an evaluation", cfg.Train.OutDir)
	}
	last := m.Eval[len(m.Eval)-1]
	res.Top1, res.Top5 = last.Top1, last.Top5
	return res, nil
}

// fingerprint returns the SHA-256 (hex) of the resolved configurations
// candidate c trains with: its float run's and, with qat, its QAT run's,
// their directories left out (a moved study is the same study).
func fingerprint(s *Study, c Candidate) string {
	h := sha256.New()
	cfgs := []trainer.Config{s.Config(c)}
	if c.QAT {
		cfgs = append(cfgs, s.QATConfig(c))
	}
	for _, cfg := range cfgs {
		cfg.Train.OutDir, cfg.QAT.From = "", ""
		io.WriteString(h, cfg.TOML())
	}
	if c.Pruned() {
		st := s.Settings
		fmt.Fprintf(h, "prune %v %q %q x%d steps %d lr %v calib %d", c.PruneRatio, c.PruneCriterion, c.PruneScope, c.PruneIterations, st.PruneSteps, st.PruneLR, st.PruneCalib)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// floatModel returns candidate c's model configuration before any pruning,
// for the study's dataset (its channels and classes).
func floatModel(s *Study, c Candidate) (models.Config, error) {
	info, err := trainer.DataInfo(s.Recipe.Data)
	if err != nil {
		return models.Config{}, err
	}
	return s.Config(c).ModelConfig(info.C, info.NumClasses())
}

// remeasure measures finished candidate c's latencies again (its pruned
// model's when it was pruned) and rewrites its result.json; r is the result
// read back, whose other fields are kept.
func remeasure(ctx context.Context, s *Study, c Candidate, r Result) (Result, error) {
	mc, err := floatModel(s, c)
	if err != nil {
		return r, err
	}
	if c.Pruned() {
		if mc, err = models.ConfigFromCheckpoint(prunedStem(s.Dir(c), c.iterations()) + ".safetensors"); err != nil {
			return r, err
		}
	}
	if err := measure(ctx, s, c, mc, &r); err != nil {
		return r, err
	}
	return r, writeJSON(filepath.Join(s.Dir(c), resultFile), r)
}

// measure fills in r's parameters and MACs (at the study's input size) and
// its inference latency at batch 1 and 64 on the study's backend, on a
// freshly built float model mc, candidate c's (pruned when it asks for
// pruning; latency does not depend on the weights).
func measure(ctx context.Context, s *Study, c Candidate, mc models.Config, r *Result) error {
	info, err := trainer.DataInfo(s.Recipe.Data)
	if err != nil {
		return err
	}
	cfg := s.Config(c)
	r.Model, r.InputSize = mc.Name, cmp.Or(s.Recipe.Data.InputSize, info.H)
	be, closeBE, err := trainer.OpenBackend(cfg.Train.Backend)
	if err != nil {
		return err
	}
	defer closeBE()
	m, err := models.New(be, mc, cfg.Train.Seed)
	if err != nil {
		return err
	}
	r.Params = m.NumParams()
	rows, err := m.Describe(1, r.InputSize, r.InputSize, 4)
	if err != nil {
		return err
	}
	r.MACs = models.Totals(rows).MACs
	w, runs := s.Settings.LatencyWarmup, s.Settings.LatencyRuns
	if r.LatencyB1, err = trainer.Latency(ctx, m, 1, r.InputSize, w, runs); err != nil {
		return err
	}
	r.LatencyB64, err = trainer.Latency(ctx, m, 64, r.InputSize, w, runs)
	return err
}

// writeCurves draws the float run's loss and accuracy curves into the
// candidate's directory.
func writeCurves(dir, name string) error {
	m, err := plot.ReadMetricsFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(filepath.Join(dir, curvesFile), func(w io.Writer) error {
		return plot.WriteCurvesPNG(w, m, name)
	})
}

// readResult reads a candidate's result.json; ok is false when it does not
// exist (the candidate is not finished).
func readResult(dir string) (r Result, ok bool, err error) {
	ok, err = readJSON(filepath.Join(dir, resultFile), &r)
	return r, ok, err
}

// maxJSONBytes bounds the small JSON files a study reads back.
const maxJSONBytes = 1 << 20

// readJSON decodes the JSON file at path into v; ok is false when the
// file does not exist. A larger file than maxJSONBytes or a malformed one
// is an error naming it.
func readJSON(path string, v any) (ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSONBytes+1))
	if err != nil {
		return false, err
	}
	if len(b) > maxJSONBytes {
		return false, fmt.Errorf("%s is over %d bytes", path, maxJSONBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w (remove it to redo this step)", path, err)
	}
	return true, nil
}

// writeJSON writes v as indented JSON to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// recorder appends the study's JSON Lines records.
type recorder struct {
	f    *os.File
	path string
}

func openMetrics(path string) (*recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	return &recorder{f: f, path: path}, nil
}

// record appends {"kind": kind, "candidate": name, "time": now, fields...}
// in one write.
func (r *recorder) record(kind, name string, fields map[string]any) error {
	rec := map[string]any{"kind": kind, "candidate": name, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		rec[k] = v
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("study: %s record: %w", kind, err)
	}
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("study: writing %s failed: %w", r.path, err)
	}
	return nil
}

func (r *recorder) Close() error { return r.f.Close() }
