package main

import (
	"fmt"
	"strings"
)

// table is a Markdown table; align has one letter per column, l or r.
type table struct {
	head  []string
	align string
	rows  [][]string
}

func newTable(align string, head ...string) *table { return &table{head: head, align: align} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for i := range t.head {
		if i < len(t.align) && t.align[i] == 'r' {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

// num formats v with about three significant digits.
func num(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1e", v)
}

func mbOf(bytes int64) string      { return num(float64(bytes) / 1e6) }
func gflopOf(flops int64) string   { return num(float64(flops) / 1e9) }
func us(seconds float64) string    { return num(seconds * 1e6) }
func ms(seconds float64) string    { return fmt.Sprintf("%.2f", seconds*1e3) }
func pct(part, all float64) string { return fmt.Sprintf("%.1f%%", 100*part/all) }
func imgs(batch int, seconds float64) string {
	return fmt.Sprintf("%.0f", float64(batch)/seconds)
}
