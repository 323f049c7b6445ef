package trainer

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedConfigs loads every configuration in configs/ (unknown keys
// and invalid values fail) and resolves its model for an RGB, 1000-class
// dataset. Study files (study_*.toml) are trainer/study's to check.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.toml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("configs: %v %v", files, err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "study_") {
			continue
		}
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := c.ModelConfig(3, 1000); err != nil {
			t.Errorf("%s: [model]: %v", f, err)
		}
	}
}
