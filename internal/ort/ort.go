// Package ort runs ONNX models with ONNX Runtime through scripts/ort/run.mjs
// (Node and the onnxruntime-node package that scripts/setup.sh installs into
// tools/ort), the checker tests hold nextconv's ONNX exports against.
package ort

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/nextconv/nextconv/export/onnx/onnxpb"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
)

// ErrMissing is wrapped by Find's error when node or onnxruntime-node is
// not installed (run scripts/setup.sh).
var ErrMissing = errors.New("ONNX Runtime checker not installed (run scripts/setup.sh)")

// Runner runs run.mjs from one module root.
type Runner struct {
	node, script string
}

// Find locates node and the module's scripts/ort/run.mjs with its
// onnxruntime-node package, searching for the module root from the working
// directory up. It returns an error wrapping ErrMissing when one is absent.
func Find() (*Runner, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not found: %w", ErrMissing)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := fsutil.ModuleRoot(wd)
	if err != nil {
		return nil, err
	}
	pkg := filepath.Join(root, "tools", "ort", "node_modules", "onnxruntime-node", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return nil, fmt.Errorf("%s missing: %w", pkg, ErrMissing)
	}
	return &Runner{node: node, script: filepath.Join(root, "scripts", "ort", "run.mjs")}, nil
}

// Options are run.mjs's optional flags.
type Options struct {
	Batch     int    // samples per session run (0: the whole input at once)
	Threads   int    // intra-op threads (0: run.mjs's default, 2)
	Opt       string // graph optimization level ("": all)
	Optimized string // where to save the optimized graph ("": not saved)
	Bench     int    // timed runs after a warm-up (0: none)
}

// Result is run.mjs's summary line.
type Result struct {
	Shape    []int     `json:"shape"`
	MedianMS float64   `json:"median_ms"`
	RunsMS   []float64 `json:"runs_ms"`
}

// Run runs model on the batch x [N, C, H, W] (NCHW float32) and returns
// the model's first output and the run summary. Temporary files go to dir.
// Errors carry ONNX Runtime's message.
func (r *Runner) Run(dir, model string, x []float32, shape []int, o Options) ([]float32, Result, error) {
	in := filepath.Join(dir, "ort_input.safetensors")
	out := filepath.Join(dir, "ort_logits.safetensors")
	if err := models.WriteSafetensors(in, []models.Tensor{{Name: "x", Shape: shape, Data: x}}, nil); err != nil {
		return nil, Result{}, err
	}
	defer os.Remove(in)
	args := []string{r.script, "--model", model, "--input", in, "--output", out}
	for _, f := range []struct {
		name string
		v    string
	}{{"batch", itoa(o.Batch)}, {"threads", itoa(o.Threads)}, {"opt", o.Opt}, {"optimized", o.Optimized}, {"bench", itoa(o.Bench)}} {
		if f.v != "" {
			args = append(args, "--"+f.name, f.v)
		}
	}
	cmd := exec.Command(r.node, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, Result{}, fmt.Errorf("onnxruntime on %s: %v: %s", model, err, strings.TrimSpace(stderr.String()))
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, Result{}, fmt.Errorf("onnxruntime on %s: summary %q: %w", model, stdout.String(), err)
	}
	ts, _, err := models.ReadSafetensors(out)
	os.Remove(out)
	if err != nil {
		return nil, Result{}, err
	}
	if len(ts) != 1 {
		return nil, Result{}, fmt.Errorf("onnxruntime on %s: %d output tensors", model, len(ts))
	}
	return ts[0].Data, res, nil
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// integerOps are the ops in which ONNX Runtime runs quantized arithmetic on
// integers (its QDQ fusions produce them from DequantizeLinear → MatMul or
// Conv → QuantizeLinear groups).
var integerOps = []string{"QLinearConv", "QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "ConvInteger", "QGemm", "DynamicQuantizeMatMul"}

// OpCounts returns the number of nodes of each op type in the ONNX file
// at path (a model, or the optimized graph Options.Optimized saves), and
// how many of them are integer ops.
func OpCounts(path string) (ops map[string]int, integer int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	ops = map[string]int{}
	for _, n := range mp.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	for _, op := range integerOps {
		integer += ops[op]
	}
	return ops, integer, nil
}
