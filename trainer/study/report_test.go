package study

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteReportsMarksFront writes the reports of four known results and
// checks which rows results.md marks as Pareto-optimal on each axis and
// that results.csv holds every row.
func TestWriteReportsMarksFront(t *testing.T) {
	rs := []Result{
		{Name: "ref", MACs: 25e6, LatencyB1: 4e-3, Top1: 90, Backend: "cpu", InputSize: 28},
		{Name: "small", MACs: 13e6, LatencyB1: 5e-3, Top1: 88, Backend: "cpu", InputSize: 28},                           // front on MACs only
		{Name: "worse", MACs: 26e6, LatencyB1: 6e-3, Top1: 89, Backend: "cpu", InputSize: 28},                           // dominated by ref on both
		{Name: "fast", MACs: 30e6, LatencyB1: 2e-3, Top1: 87, Backend: "cpu", InputSize: 28, QAT: true, Int8Top1: 86.5}, // front on latency only
	}
	dir := t.TempDir()
	if err := WriteReports(dir, rs); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, mdFile))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ref": "MACs, latency", "small": "MACs", "worse": "", "fast": "latency"}
	rows := 0
	for _, line := range strings.Split(string(md), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 12 {
			continue
		}
		name := strings.TrimSpace(cells[1])
		w, ok := want[name]
		if !ok {
			continue
		}
		rows++
		if got := strings.TrimSpace(cells[11]); got != w {
			t.Errorf("%s: Pareto column %q, want %q", name, got, w)
		}
		if int8 := strings.TrimSpace(cells[10]); (name == "fast") != (int8 == "86.50") {
			t.Errorf("%s: int8 column %q", name, int8)
		}
	}
	if rows != 4 {
		t.Errorf("results.md has %d candidate rows:\n%s", rows, md)
	}
	if csv := readCSV(t, filepath.Join(dir, csvFile)); len(csv) != 5 || csv[4][0] != "fast" || csv[4][15] != "86.5" || csv[1][15] != "" {
		t.Errorf("results.csv: %q", csv)
	}
	for _, f := range []string{macsPlot, latencyPlot} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
