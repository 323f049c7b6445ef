package trainer

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/datasets"
)

// A validation folder without one of the training classes used to give
// 0 % and exit 0; now LoadData refuses it, naming the class.
func TestLoadDataImageFolderClassMismatch(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, p := range []string{"train/bird/0.png", "train/frog/0.png", "val/bird/0.png"} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := DataConfig{Dataset: "imagefolder", TrainDir: filepath.Join(root, "train"), ValDir: filepath.Join(root, "val"), InputSize: 4}
	_, err := LoadData(context.Background(), c)
	if !errors.Is(err, datasets.ErrClasses) || !strings.Contains(err.Error(), c.ValDir) || !strings.Contains(err.Error(), `missing ["frog"]`) {
		t.Errorf("val without a training class: %v", err)
	}
}
