// Package plot draws a training run's curves from its metrics.jsonl (the
// JSON Lines the trainer writes) as PNG images, with gonum.org/v1/plot:
// the training loss per logged step and the test top-1/top-5 per
// evaluation. `train plot` and `train study` use it.
package plot

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Bounds on a metrics file, which may come from anyone: a line longer than
// MaxLineBytes or more than MaxRecords train and eval records is an error.
const (
	MaxLineBytes = 1 << 20
	MaxRecords   = 1 << 22
)

// TrainPoint is one "train" record: the mean training loss of the steps
// logged since the previous one, at optimizer step Step.
type TrainPoint struct {
	Step  int
	Epoch float64
	Loss  float64
}

// EvalPoint is one "eval" record: test top-1 and top-5 in percent and the
// test loss at optimizer step Step; EMATop1 is NaN when the run has no EMA.
type EvalPoint struct {
	Step             int
	Epoch            float64
	Top1, Top5, Loss float64
	EMATop1          float64
}

// Metrics holds a run's train and eval records in step order.
type Metrics struct {
	Train []TrainPoint
	Eval  []EvalPoint
}

// ReadMetricsFile reads the metrics.jsonl at path (see ReadMetrics).
func ReadMetricsFile(path string) (Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return Metrics{}, fmt.Errorf("plot: %w", err)
	}
	defer f.Close()
	return ReadMetrics(f, path)
}

// record is the part of a metrics line the curves use; pointers tell a
// missing field from 0.
type record struct {
	Kind    *string  `json:"kind"`
	Step    *float64 `json:"step"`
	Epoch   float64  `json:"epoch"`
	Loss    *float64 `json:"loss"`
	Top1    *float64 `json:"top1"`
	Top5    *float64 `json:"top5"`
	EMATop1 *float64 `json:"ema_top1"`
}

// ReadMetrics parses metrics JSON Lines from r; name (the file) prefixes
// errors. "train" records need a step and a finite loss, "eval" records a
// step and top1/top5 in [0, 100]; other kinds are skipped. A "resume"
// record at step S drops the records after S that the resumed run repeats.
// A line that is not a JSON object, lacks a field or has a wrong one is an
// error naming the file, the line number and the field; so is an empty
// file, a line over MaxLineBytes or more than MaxRecords records.
func ReadMetrics(r io.Reader, name string) (Metrics, error) {
	var m Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := m.add(sc.Bytes()); err != nil {
			return Metrics{}, fmt.Errorf("plot: %s line %d: %w", name, line, err)
		}
		if len(m.Train)+len(m.Eval) > MaxRecords {
			return Metrics{}, fmt.Errorf("plot: %s line %d: more than %d train and eval records", name, line, MaxRecords)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Metrics{}, fmt.Errorf("plot: %s line %d: longer than %d bytes", name, line+1, MaxLineBytes)
		}
		return Metrics{}, fmt.Errorf("plot: %s: %w", name, err)
	}
	if len(m.Train) == 0 && len(m.Eval) == 0 {
		return Metrics{}, fmt.Errorf("plot: %s has no train or eval records (%d lines)", name, line)
	}
	return m, nil
}

// add parses one line into m.
func (m *Metrics) add(line []byte) error {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if r.Kind == nil {
		return errors.New(`no "kind"`)
	}
	kind := *r.Kind
	if kind != "train" && kind != "eval" && kind != "resume" {
		return nil
	}
	if r.Step == nil || *r.Step < 0 || *r.Step != math.Trunc(*r.Step) || *r.Step > math.MaxInt32 {
		return fmt.Errorf("%s record: \"step\" %s, want an integer >= 0", kind, show(r.Step))
	}
	step := int(*r.Step)
	switch kind {
	case "resume":
		m.Train = trimAfter(m.Train, step, func(p TrainPoint) int { return p.Step })
		m.Eval = trimAfter(m.Eval, step, func(p EvalPoint) int { return p.Step })
	case "train":
		if r.Loss == nil || math.IsNaN(*r.Loss) || math.IsInf(*r.Loss, 0) {
			return fmt.Errorf("train record: \"loss\" %s, want a finite number", show(r.Loss))
		}
		m.Train = append(m.Train, TrainPoint{Step: step, Epoch: r.Epoch, Loss: *r.Loss})
	case "eval":
		p := EvalPoint{Step: step, Epoch: r.Epoch, Loss: math.NaN(), EMATop1: math.NaN()}
		for _, f := range []struct {
			name string
			v    *float64
			dst  *float64
		}{{"top1", r.Top1, &p.Top1}, {"top5", r.Top5, &p.Top5}, {"ema_top1", r.EMATop1, &p.EMATop1}} {
			if f.v == nil && f.name == "ema_top1" {
				continue
			}
			if f.v == nil || !(*f.v >= 0 && *f.v <= 100) {
				return fmt.Errorf("eval record: %q %s, want a percentage in [0, 100]", f.name, show(f.v))
			}
			*f.dst = *f.v
		}
		if r.Loss != nil {
			p.Loss = *r.Loss
		}
		m.Eval = append(m.Eval, p)
	}
	return nil
}

// trimAfter drops the trailing points whose step is after step.
func trimAfter[P any](ps []P, step int, stepOf func(P) int) []P {
	for len(ps) > 0 && stepOf(ps[len(ps)-1]) > step {
		ps = ps[:len(ps)-1]
	}
	return ps
}

func show(v *float64) string {
	if v == nil {
		return "missing"
	}
	return fmt.Sprint(*v)
}
