package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/prune"
	"github.com/nextconv/nextconv/trainer"
)

// prunedFile is, in a candidate's directory, the pruned model before
// fine-tuning; the fine-tuning runs in prunedDir.
const (
	prunedFile = "pruned.safetensors"
	prunedDir  = "pruned"
)

// Pruned reports whether c asks for pruning (prune_ratio or the other
// prune_ keys set).
func (c Candidate) Pruned() bool {
	return c.PruneRatio != 0 || c.PruneCriterion != "" || c.PruneScope != ""
}

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
	case c.QAT:
		return errors.New("qat = true with prune_ratio: QAT of a pruned model is not supported by the study yet")
	case s.Settings.PruneSteps == 0:
		return errors.New("prune_ratio needs [study] prune_steps > 0 (the fine-tuning after pruning)")
	}
	return nil
}

// PruneConfig returns the fine-tuning of candidate c's pruned model mc:
// the recipe with mc as its [model] (trainer.WithModel), initialised from
// Dir(c)/pruned.safetensors, for prune_steps steps at prune_lr (the
// recipe's lr when 0) without warmup, in Dir(c)/pruned.
func (s *Study) PruneConfig(c Candidate, mc models.Config) trainer.Config {
	cfg := trainer.WithModel(s.Config(c), mc)
	dir := s.Dir(c)
	cfg.Model.Pretrained = filepath.Join(dir, prunedFile)
	cfg.Train.OutDir = filepath.Join(dir, prunedDir)
	cfg.Train.Epochs, cfg.Train.MaxSteps, cfg.Train.EvalEvery = 0, s.Settings.PruneSteps, 0
	if s.Settings.PruneLR > 0 {
		cfg.Optim.LR = s.Settings.PruneLR
	}
	cfg.Optim.WarmupSteps, cfg.Optim.WarmupEpochs = 0, 0
	cfg.Optim.MinLR = min(cfg.Optim.MinLR, cfg.Optim.LR)
	return cfg
}

// pruneCandidate prunes candidate c's trained float model (its
// last.safetensors) into Dir(c)/pruned.safetensors unless an earlier run
// did, then fine-tunes it (resuming an interrupted fine-tuning) and
// returns the fine-tuning's result and the pruned model's configuration.
func pruneCandidate(ctx context.Context, s *Study, c Candidate, label string, log io.Writer, rec *recorder) (trainer.Result, models.Config, error) {
	path := filepath.Join(s.Dir(c), prunedFile)
	if _, err := os.Stat(path); err != nil {
		if err := pruneTo(ctx, s, c, path, log); err != nil {
			return trainer.Result{}, models.Config{}, err
		}
	}
	mc, err := models.ConfigFromCheckpoint(path)
	if err != nil {
		return trainer.Result{}, mc, err
	}
	res, err := train(ctx, s.PruneConfig(c, mc), label+" pruned", log, rec, c.Name, "prune")
	return res, mc, err
}

// pruneTo prunes candidate c's last.safetensors and writes the smaller
// model to path.
func pruneTo(ctx context.Context, s *Study, c Candidate, path string, log io.Writer) error {
	cfg := s.Config(c)
	be, closeBE, err := trainer.OpenBackend(cfg.Train.Backend)
	if err != nil {
		return err
	}
	defer closeBE()
	m, _, _, err := trainer.OpenModel(be, filepath.Join(s.Dir(c), "last.safetensors"), false)
	if err != nil {
		return err
	}
	o := c.pruneOptions()
	var calib []*datasets.Batch
	if o.Criterion == prune.Taylor {
		if calib, err = trainer.CalibrationBatches(ctx, cfg, s.Settings.PruneCalib); err != nil {
			return err
		}
	}
	res, err := prune.Prune(m, o, calib)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "study: %s: pruned (%s, %s, ratio %v): %d → %d parameters\n", c.Name, res.Options.Criterion, res.Options.Scope, o.Ratio, res.ParamsBefore, res.ParamsAfter)
	return trainer.SaveModel(res.Model, path, trainer.WithModel(cfg, res.Model.Config))
}
