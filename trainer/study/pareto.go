package study

import (
	"cmp"
	"slices"
)

// Point is one candidate on an accuracy–cost plane: Cost to minimise (MACs,
// seconds), Top1 to maximise.
type Point struct {
	Cost, Top1 float64
}

// ParetoFront returns the indices of the points no other point dominates,
// ordered by increasing cost (ties by decreasing top-1, then index). Point
// j dominates point i when it costs no more, is at least as accurate and
// is strictly better in one of the two; equal points dominate neither, so
// both are on the front. A point with a NaN coordinate is never on it.
func ParetoFront(ps []Point) []int {
	var front []int
	for i, p := range ps {
		if p.Cost != p.Cost || p.Top1 != p.Top1 {
			continue
		}
		dominated := false
		for j, q := range ps {
			if j != i && q.Cost <= p.Cost && q.Top1 >= p.Top1 && (q.Cost < p.Cost || q.Top1 > p.Top1) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, i)
		}
	}
	slices.SortFunc(front, func(a, b int) int {
		return cmp.Or(cmp.Compare(ps[a].Cost, ps[b].Cost), cmp.Compare(ps[b].Top1, ps[a].Top1), cmp.Compare(a, b))
	})
	return front
}
