package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/prune"
	"github.com/nextconv/nextconv/trainer"
)

// prunedName is the stem of a candidate's pruning files: iteration i
// (from 1) writes the pruned model, before fine-tuning, to
// Dir(c)/pruned[i].safetensors and fine-tunes it in Dir(c)/pruned[i] (no
// number for the first).
const prunedName = "pruned"

func prunedStem(dir string, it int) string {
	if it == 1 {
		return filepath.Join(dir, prunedName)
	}
	return filepath.Join(dir, fmt.Sprintf("%s%d", prunedName, it))
}

// Pruned reports whether c asks for pruning (prune_ratio or the other
// prune_ keys set).
func (c Candidate) Pruned() bool {
	return c.PruneRatio != 0 || c.PruneCriterion != "" || c.PruneScope != "" || c.PruneIterations != 0
}

// iterations returns how many prune-and-fine-tune rounds c asks for.
func (c Candidate) iterations() int { return max(c.PruneIterations, 1) }

// pruneOptions returns c's pruning options.
func (c Candidate) pruneOptions() prune.Options {
	return prune.Options{Ratio: c.PruneRatio, Criterion: prune.Criterion(c.PruneCriterion), Scope: prune.Scope(c.PruneScope)}
}

// checkPruning checks a pruned candidate's keys, naming them.
func (s *Study) checkPruning(c Candidate) error {
	switch err := c.pruneOptions().Check(); {
	case !(c.PruneRatio > 0 && c.PruneRatio < 1):
		return fmt.Errorf("prune_ratio = %v: want in (0, 1), the fraction of MLP hidden channels removed", c.PruneRatio)
	case err != nil:
		return fmt.Errorf("prune_criterion %q, prune_scope %q: %w", c.PruneCriterion, c.PruneScope, err)
	case c.PruneIterations < 0 || c.PruneIterations > maxPruneIterations:
		return fmt.Errorf("prune_iterations = %d: want in [1, %d]", c.PruneIterations, maxPruneIterations)
	case c.QAT:
		return errors.New("qat = true with prune_ratio: QAT of a pruned model is not supported by the study yet")
	case s.Settings.PruneSteps == 0:
		return errors.New("prune_ratio needs [study] prune_steps > 0 (the fine-tuning after pruning)")
	}
	return nil
}

// maxPruneIterations bounds prune_iterations.
const maxPruneIterations = 10

// PruneConfig returns the fine-tuning of candidate c's pruned model mc in
// pruning iteration it (from 1): the recipe with mc as its [model]
// (trainer.WithModel), initialised from Dir(c)/pruned[it].safetensors, for
// prune_steps steps at prune_lr (the recipe's lr when 0) without warmup,
// in Dir(c)/pruned[it].
func (s *Study) PruneConfig(c Candidate, mc models.Config, it int) trainer.Config {
	cfg := trainer.WithModel(s.Config(c), mc)
	stem := prunedStem(s.Dir(c), it)
	cfg.Model.Pretrained = stem + ".safetensors"
	cfg.Train.OutDir = stem
	cfg.Train.Epochs, cfg.Train.MaxSteps, cfg.Train.EvalEvery = 0, s.Settings.PruneSteps, 0
	if s.Settings.PruneLR > 0 {
		cfg.Optim.LR = s.Settings.PruneLR
	}
	cfg.Optim.WarmupSteps, cfg.Optim.WarmupEpochs = 0, 0
	cfg.Optim.MinLR = min(cfg.Optim.MinLR, cfg.Optim.LR)
	return cfg
}

// pruneCandidate runs candidate c's pruning rounds: each prunes the
// previous model (first the trained float model's last.safetensors) into
// pruned[i].safetensors unless an earlier run did, then fine-tunes it
// (resuming an interrupted fine-tuning). It returns the last fine-tuning's
// result and the last pruned model's configuration.
func pruneCandidate(ctx context.Context, s *Study, c Candidate, label string, log io.Writer, rec *recorder) (trainer.Result, models.Config, error) {
	src := filepath.Join(s.Dir(c), "last.safetensors")
	var res trainer.Result
	var mc models.Config
	for it := 1; it <= c.iterations(); it++ {
		stem := prunedStem(s.Dir(c), it)
		path := stem + ".safetensors"
		if _, err := os.Stat(path); err != nil {
			if err := pruneTo(ctx, s, c, src, path, log); err != nil {
				return res, mc, err
			}
		}
		var err error
		if mc, err = models.ConfigFromCheckpoint(path); err != nil {
			return res, mc, err
		}
		if res, err = train(ctx, s.PruneConfig(c, mc, it), fmt.Sprintf("%s pruned %d/%d", label, it, c.iterations()), log, rec, c.Name, "prune"); err != nil {
			return res, mc, err
		}
		src = filepath.Join(stem, "last.safetensors")
	}
	return res, mc, nil
}

// pruneTo prunes the checkpoint src of candidate c and writes the smaller
// model to path.
func pruneTo(ctx context.Context, s *Study, c Candidate, src, path string, log io.Writer) error {
	be, closeBE, err := trainer.OpenBackend(s.Recipe.Train.Backend)
	if err != nil {
		return err
	}
	defer closeBE()
	res, _, err := trainer.PruneCheckpoint(ctx, be, src, path, c.pruneOptions(), s.Settings.PruneCalib)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "study: %s: pruned %s (%s, %s, ratio %v): %d → %d parameters\n", c.Name, src, res.Options.Criterion, res.Options.Scope, res.Options.Ratio, res.ParamsBefore, res.ParamsAfter)
	return nil
}
