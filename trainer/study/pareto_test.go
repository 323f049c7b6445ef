package study

import (
	"math"
	"slices"
	"testing"
)

func TestParetoFront(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   []Point
		want []int
	}{
		{"empty", nil, nil},
		{"single point", []Point{{5, 50}}, []int{0}},
		{"dominated points", []Point{{10, 90}, {20, 85}, {5, 80}, {30, 95}, {25, 94}, {12, 70}},
			[]int{2, 0, 4, 3}}, // {20,85} by {10,90}; {12,70} by {10,90} and {5,80}
		{"equal points both stay", []Point{{10, 90}, {10, 90}, {20, 80}}, []int{0, 1}},
		{"equal cost: the more accurate wins", []Point{{10, 80}, {10, 90}}, []int{1}},
		{"equal top-1: the cheaper wins", []Point{{20, 90}, {10, 90}}, []int{1}},
		{"NaN is never on the front", []Point{{math.NaN(), 99}, {10, 50}, {5, math.NaN()}}, []int{1}},
		{"a diagonal is all front, cheapest first", []Point{{3, 3}, {1, 1}, {2, 2}}, []int{1, 2, 0}},
	} {
		if got := ParetoFront(tc.ps); !slices.Equal(got, tc.want) {
			t.Errorf("%s: front %v, want %v", tc.name, got, tc.want)
		}
	}
}
