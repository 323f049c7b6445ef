package datasets

// Subset returns a view of the first n samples of d (all of them when n is
// not smaller than d.Len()), e.g. a quick evaluation on part of a test set.
func Subset(d Dataset, n int) Dataset {
	if n >= d.Len() || n < 0 {
		return d
	}
	return subset{d, n}
}

type subset struct {
	Dataset
	n int
}

func (s subset) Len() int { return s.n }
