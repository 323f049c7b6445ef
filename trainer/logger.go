package trainer

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Logger writes a run's outputs: metrics.jsonl (one JSON object per line,
// machine-readable), human-readable lines, and a progress bar when the
// output is a terminal (plain periodic lines otherwise).
type Logger struct {
	out     io.Writer
	path    string         // metrics.jsonl, for errors
	metrics io.WriteCloser // metrics.jsonl
	bar     *progressbar.ProgressBar
	mu      sync.Mutex
	last    time.Time // time of the last Rate call
	ticks   int       // steps since the last Rate call
	label   string    // progress bar description ("train" when empty)
}

// NewLogger opens dir/metrics.jsonl (appending when resuming) and writes
// human-readable output to out.
func NewLogger(dir string, out io.Writer, resume bool) (*Logger, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	path := filepath.Join(dir, metricsFile)
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trainer: metrics: %w", err)
	}
	if out == nil {
		out = io.Discard
	}
	return &Logger{out: out, path: path, metrics: f, last: time.Now()}, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// StartProgress shows a bar over total steps, starting at done, when the
// output is a terminal.
func (l *Logger) StartProgress(total, done int) {
	if !isTerminal(l.out) {
		return
	}
	l.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(l.out), progressbar.OptionSetDescription(cmp.Or(l.label, "train")),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("step"),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(), progressbar.OptionClearOnFinish())
	l.bar.Set(done)
}

// StopProgress removes the bar.
func (l *Logger) StopProgress() {
	if l.bar != nil {
		l.bar.Finish()
		l.bar = nil
	}
}

// Tick counts one step.
func (l *Logger) Tick() {
	l.ticks++
	if l.bar != nil {
		l.bar.Add(1)
	}
}

// Rate returns images per second since the last call, for batches of n.
func (l *Logger) Rate(n int) float64 {
	now := time.Now()
	r := float64(l.ticks*n) / now.Sub(l.last).Seconds()
	l.last, l.ticks = now, 0
	return r
}

// Line prints a periodic progress line: above the bar on a terminal, plain
// otherwise.
func (l *Logger) Line(s string) {
	if l.bar != nil {
		progressbar.Bprintln(l.bar, s)
		return
	}
	fmt.Fprintln(l.out, s)
}

// Printf prints a line whatever the output is.
func (l *Logger) Printf(format string, args ...any) { l.Line(fmt.Sprintf(format, args...)) }

// Record appends one JSON object to metrics.jsonl, with the wall time, in a
// single write. A failed write (a full disk) returns an error naming the
// file: the run must stop rather than go on with metrics missing.
func (l *Logger) Record(rec map[string]any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("trainer: metrics record %v: %w", rec["kind"], err)
	}
	if _, err := l.metrics.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("trainer: metrics: writing %s failed, the run stops: %w", l.path, err)
	}
	return nil
}

// Close flushes and closes metrics.jsonl.
func (l *Logger) Close() error {
	l.StopProgress()
	if err := l.metrics.Close(); err != nil {
		return fmt.Errorf("trainer: metrics: %s: %w", l.path, err)
	}
	return nil
}
