package testutil

import (
	"encoding/json"
	"fmt"
	"os"
)

// EfficientGolden is the golden data scripts/golden/efficient.py writes for
// one of timm's efficient baselines (models/testdata/golden/efficient).
type EfficientGolden struct {
	Model   string   `json:"model"`
	Params  int      `json:"params"`  // parameter elements, buffers excluded
	Gain    float64  `json:"gain"`    // the weight formula's gain for this model
	Tensors []Entry  `json:"tensors"` // the state dict in timm's order
	Inputs  []Inputs `json:"inputs"`
}

// Entry is one state-dict tensor: name, shape and dtype ("float32" or
// "int64").
type Entry struct {
	Name  string
	Shape []int
	DType string
}

// UnmarshalJSON reads the script's [name, shape, dtype] triple.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if json.Unmarshal(raw[0], &e.Name) != nil || json.Unmarshal(raw[1], &e.Shape) != nil || json.Unmarshal(raw[2], &e.DType) != nil {
		return fmt.Errorf("tensor entry %s is not [name, shape, dtype]", b)
	}
	return nil
}

// Inputs is one golden input: its NCHW shape (the values are
// FormulaInput("input", N·C·H·W)) and timm's float64 logits [N, 1000].
type Inputs struct {
	Shape  []int     `json:"shape"`
	Logits []float64 `json:"logits"`
}

// LoadEfficientGolden reads the golden file at path.
func LoadEfficientGolden(path string) (EfficientGolden, error) {
	var g EfficientGolden
	b, err := os.ReadFile(path)
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return g, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Values returns the float32 values of entry e under the formula (zeros for
// an int64 entry, BatchNorm's num_batches_tracked, which inference ignores).
func (g EfficientGolden) Values(e Entry) []float32 {
	if e.DType == "int64" {
		n := 1
		for _, d := range e.Shape {
			n *= d
		}
		return make([]float32, n)
	}
	return FormulaFill(e.Name, e.Shape, g.Gain)
}
