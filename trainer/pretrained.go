package trainer

import (
	"fmt"

	"github.com/nextconv/nextconv/models"
)

// loadPretrained initialises the freshly built model from model.pretrained
// (models.LoadPretrained: nextconv, timm or official names, safetensors or
// torch.save .pt; head and stem adapted as timm does). A checkpoint written
// by `train` contributes its weights only: its optimizer moments, EMA and
// quantizer state belong to the other run. The report goes to the log as
// one line and to metrics.jsonl.
func (t *Trainer) loadPretrained(path string) error {
	ts, err := models.ReadTensors(path)
	if err != nil {
		return fmt.Errorf("model.pretrained: %w", err)
	}
	weights, _ := splitTensors(ts)
	rep, err := t.model.LoadPretrainedTensors(path, weights)
	if err != nil {
		return fmt.Errorf("model.pretrained: %w", err)
	}
	t.log.Printf("%s", rep)
	t.log.Record(map[string]any{"kind": "pretrained", "path": path, "loaded": rep.Loaded, "head_dropped": rep.HeadDropped,
		"stem_adapted": rep.StemAdapted, "not_loaded": rep.NotLoaded, "unused": rep.Unused})
	return nil
}
