// Package study runs `train study`: a list of candidate models trained with
// one recipe and seed on one dataset, each measured for parameters, MACs,
// training throughput, inference latency and test accuracy (and int8
// accuracy after quantization-aware fine-tuning where asked), with the
// results written as CSV, a Markdown table and PNG plots of accuracy
// against cost with the Pareto front marked (issue 14, item 6).
package study

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/nextconv/nextconv/trainer"
)

// Settings is the [study] section.
type Settings struct {
	// OutDir holds one run directory per candidate (OutDir/<name>) and the
	// study's results; required.
	OutDir string `toml:"out_dir"`
	// LatencyWarmup untimed and LatencyRuns timed forwards give each
	// latency (the median of the timed ones).
	LatencyWarmup int `toml:"latency_warmup"`
	LatencyRuns   int `toml:"latency_runs"`
	// QATSteps is the length in optimizer steps of the quantization-aware
	// fine-tuning of candidates with qat = true, at learning rate QATLR
	// (constant after no warmup, decaying to optim.min_lr by cosine).
	QATSteps int     `toml:"qat_steps"`
	QATLR    float64 `toml:"qat_lr"`
	// PruneSteps is the length in optimizer steps of the fine-tuning of a
	// pruned candidate (prune_ratio set) after pruning, at learning rate
	// PruneLR (0: the recipe's optim.lr; no warmup, cosine decay to
	// optim.min_lr). PruneCalib is the number of training batches the
	// taylor criterion scores channels on.
	PruneSteps int     `toml:"prune_steps"`
	PruneLR    float64 `toml:"prune_lr"`
	PruneCalib int     `toml:"prune_calib"`
	// StepsPlot marks the candidates as ordered steps (each changing one
	// thing of the one before, as the ConvNeXt roadmap's presets do): Run
	// also writes steps.png, test top-1 and MACs against the step
	// (WriteSteps).
	StepsPlot bool `toml:"steps_plot"`
}

// Candidate is one [[candidate]] entry: a model, trained with the study's
// recipe.
type Candidate struct {
	// Name names the candidate in results and its run directory
	// (letters, digits, '.', '_' and '-'; unique in the study).
	Name string `toml:"name"`
	// Preset is a published variant or preset ("atto", ...), the same as
	// model.variant; the two may not disagree.
	Preset string `toml:"preset"`
	// Model is the [candidate.model] table, over the study's [model]
	// section (as `train fit` reads [model]).
	Model trainer.ModelConfig `toml:"model"`
	// QAT adds quantization-aware int8 fine-tuning after training, with
	// the study's [qat] settings, and reports its accuracy.
	QAT bool `toml:"qat"`
	// PruneRatio, when set, prunes the trained candidate: that fraction of
	// its ConvNeXt blocks' MLP hidden channels is removed (package prune,
	// ranked by PruneCriterion over PruneScope: "l1" and "global" when
	// empty), and the smaller model is fine-tuned for [study] prune_steps
	// steps; the candidate's results are the pruned model's. In (0, 1).
	// PruneIterations repeats prune-then-fine-tune that many times (1
	// when 0), each round removing PruneRatio of the channels left.
	PruneRatio      float64 `toml:"prune_ratio"`
	PruneCriterion  string  `toml:"prune_criterion"`
	PruneScope      string  `toml:"prune_scope"`
	PruneIterations int     `toml:"prune_iterations"`
}

// Study is a parsed study file.
type Study struct {
	Path     string
	Settings Settings
	// Recipe is the training configuration every candidate shares: the
	// [data], [train], [optim], [mixup], [ema] and [qat] sections over
	// trainer.Default, the [model] section being the candidates' base.
	Recipe     trainer.Config
	Candidates []Candidate
}

// file is the TOML layout of a study file.
type file struct {
	Study          Settings         `toml:"study"`
	trainer.Config                  // the recipe's sections
	Candidates     []map[string]any `toml:"candidate"`
}

// candidateName is what a candidate's name may be: it names a directory.
var candidateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load reads and checks a study file. Every problem is an error naming the
// file and the section, candidate and key: a syntax error (with its line),
// an unknown key, a missing [study] out_dir or
// [data] dataset, keys the study sets itself (train.out_dir, train.resume,
// train.overwrite, qat.enabled, qat.from), an invalid recipe
// (trainer.Config.Validate), no candidates, a missing, malformed or
// duplicate candidate name, a preset that disagrees with model.variant,
// bad pruning options (a prune_ratio outside (0, 1), an unknown criterion
// or scope, pruning with qat, or no [study] prune_steps) and a candidate
// whose configuration is invalid or whose model does not build for the
// dataset.
func Load(path string) (*Study, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	f := file{Study: Settings{LatencyWarmup: 3, LatencyRuns: 10, QATLR: 2e-5, PruneCalib: 8}, Config: trainer.Default()}
	md, err := toml.Decode(string(src), &f)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", path, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if k[0] != "candidate" { // decodeCandidate checks each candidate's keys
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("study %s: unknown key(s): %s", path, strings.Join(unknown, ", "))
	}
	for _, k := range []struct {
		key      []string
		why      string
		required bool
	}{
		{[]string{"study", "out_dir"}, "each candidate's runs go to [study] out_dir/<name>", true},
		{[]string{"data", "dataset"}, "the study trains on one dataset", true},
		{[]string{"train", "out_dir"}, "each candidate runs in [study] out_dir/<name>", false},
		{[]string{"train", "resume"}, "a re-run resumes an interrupted candidate by itself", false},
		{[]string{"train", "overwrite"}, "remove a candidate's directory to train it again", false},
		{[]string{"qat", "enabled"}, "set qat = true on a candidate", false},
		{[]string{"qat", "from"}, "a QAT candidate fine-tunes its own float run", false},
	} {
		if md.IsDefined(k.key...) != k.required {
			verb := "may not be set"
			if k.required {
				verb = "is required"
			}
			return nil, fmt.Errorf("study %s: [%s] %s %s: %s", path, k.key[0], k.key[1], verb, k.why)
		}
	}
	s := &Study{Path: path, Settings: f.Study, Recipe: f.Config}
	// The recipe's own checks, on a placeholder out_dir.
	probe := s.Recipe
	probe.Train.OutDir = filepath.Join(s.Settings.OutDir, "probe")
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("study %s: %w", path, err)
	}
	if err := s.Settings.validate(); err != nil {
		return nil, fmt.Errorf("study %s: %w", path, err)
	}
	if len(f.Candidates) == 0 {
		return nil, fmt.Errorf("study %s: no [[candidate]] entries", path)
	}
	// Models are checked for the dataset's channels and classes; an
	// imagefolder's classes are its train_dir's folders, which may not be
	// on this machine yet (Run checks the data first), so RGB and 1000.
	inChans, classes := 3, 1000
	if s.Recipe.Data.Dataset != "imagefolder" {
		info, err := trainer.DataInfo(s.Recipe.Data)
		if err != nil {
			return nil, fmt.Errorf("study %s: %w", path, err)
		}
		inChans, classes = info.C, info.NumClasses()
	}
	seen := map[string]int{}
	for i, raw := range f.Candidates {
		c, err := s.decodeCandidate(raw)
		if err == nil {
			if j, dup := seen[c.Name]; dup {
				err = fmt.Errorf("name %q is also candidate %d's", c.Name, j+1)
			}
			seen[c.Name] = i
		}
		if err == nil {
			err = s.checkCandidate(c, inChans, classes)
		}
		if err != nil {
			return nil, fmt.Errorf("study %s: candidate %d%s: %w", path, i+1, quoted(raw["name"]), err)
		}
		s.Candidates = append(s.Candidates, c)
	}
	return s, nil
}

// quoted returns ` ("name")` for a name string, "" otherwise.
func quoted(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf(" (%q)", s)
	}
	return ""
}

// validate checks the [study] section.
func (st Settings) validate() error {
	switch {
	case st.OutDir == "":
		return errors.New("[study] out_dir is empty")
	case st.LatencyWarmup < 0:
		return fmt.Errorf("[study] latency_warmup = %d: want >= 0", st.LatencyWarmup)
	case st.LatencyRuns < 1 || st.LatencyRuns > 1000:
		return fmt.Errorf("[study] latency_runs = %d: want in [1, 1000]", st.LatencyRuns)
	case st.QATSteps < 0:
		return fmt.Errorf("[study] qat_steps = %d: want >= 0", st.QATSteps)
	case !(st.QATLR > 0) || math.IsInf(st.QATLR, 0):
		return fmt.Errorf("[study] qat_lr = %v: want finite and positive", st.QATLR)
	case st.PruneSteps < 0:
		return fmt.Errorf("[study] prune_steps = %d: want >= 0", st.PruneSteps)
	case !(st.PruneLR >= 0) || math.IsInf(st.PruneLR, 0):
		return fmt.Errorf("[study] prune_lr = %v: want finite and >= 0 (0: optim.lr)", st.PruneLR)
	case st.PruneCalib < 1:
		return fmt.Errorf("[study] prune_calib = %d: want >= 1", st.PruneCalib)
	}
	return nil
}

// decodeCandidate decodes one [[candidate]] table over the study's [model]
// section, rejecting unknown keys.
func (s *Study) decodeCandidate(raw map[string]any) (Candidate, error) {
	c := Candidate{Model: s.Recipe.Model}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(raw); err != nil {
		return c, err
	}
	md, err := toml.Decode(buf.String(), &c)
	if err != nil {
		return c, err
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) > 2 && k[0] == "model" && slices.Contains([]string{"stem", "stages", "head"}, k[1]) {
			continue // a model spec's block kinds check their own keys, as train fit's [model] does
		}
		unknown = append(unknown, k.String())
	}
	if len(unknown) > 0 {
		return c, fmt.Errorf("unknown key(s): %s", strings.Join(unknown, ", "))
	}
	if c.Preset != "" {
		if md.IsDefined("model", "variant") && c.Model.Variant != c.Preset {
			return c, fmt.Errorf("preset %q and model.variant %q disagree; keep one", c.Preset, c.Model.Variant)
		}
		c.Model.Variant = c.Preset
	}
	return c, nil
}

// checkCandidate checks a decoded candidate for a dataset of inChans
// channels and numClasses classes.
func (s *Study) checkCandidate(c Candidate, inChans, numClasses int) error {
	if !candidateName.MatchString(c.Name) {
		return fmt.Errorf("name = %q: want 1 to 64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'", c.Name)
	}
	if c.Pruned() {
		if err := s.checkPruning(c); err != nil {
			return err
		}
	}
	if c.QAT && s.Settings.QATSteps == 0 {
		return errors.New("qat = true needs [study] qat_steps > 0")
	}
	cfg := s.Config(c)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if c.QAT {
		if err := s.QATConfig(c).Validate(); err != nil {
			return err
		}
	}
	_, err := cfg.ModelConfig(inChans, numClasses)
	return err
}

// Dir returns candidate c's run directory, [study] out_dir/<name>.
func (s *Study) Dir(c Candidate) string { return filepath.Join(s.Settings.OutDir, c.Name) }

// Config returns the training configuration of candidate c: the recipe
// with c's model, in its run directory.
func (s *Study) Config(c Candidate) trainer.Config {
	cfg := s.Recipe
	cfg.Model = c.Model
	cfg.Train.OutDir = s.Dir(c)
	return cfg
}

// QATConfig returns the quantization-aware fine-tuning of candidate c:
// its float run's last checkpoint (the weights whose accuracy the study
// reports) fine-tuned with the study's [qat] settings for qat_steps steps
// at qat_lr, without EMA, in Dir(c)/qat.
func (s *Study) QATConfig(c Candidate) trainer.Config {
	cfg := s.Config(c)
	cfg.Model.Pretrained = "" // the weights come from qat.from
	cfg.QAT.Enabled = true
	cfg.QAT.From = filepath.Join(cfg.Train.OutDir, "last.safetensors")
	cfg.Train.OutDir = filepath.Join(cfg.Train.OutDir, "qat")
	cfg.Train.Epochs, cfg.Train.MaxSteps, cfg.Train.EvalEvery = 0, s.Settings.QATSteps, 0
	cfg.Optim.LR, cfg.Optim.WarmupSteps, cfg.Optim.WarmupEpochs = s.Settings.QATLR, 0, 0
	cfg.Optim.MinLR = min(cfg.Optim.MinLR, s.Settings.QATLR)
	cfg.EMA.Decay = 0
	return cfg
}
