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

// FirstClasses returns a view of the samples of d whose label is below n,
// with Info().Classes cut to the first n names, so a model can be trained on
// part of a dataset's classes (e.g. Fashion-MNIST's first five, then
// fine-tuned on all ten). It reads every label once. n outside
// [1, NumClasses()) returns d unchanged.
func FirstClasses(d Dataset, n int) Dataset {
	info := d.Info()
	if n <= 0 || n >= info.NumClasses() {
		return d
	}
	idx := make([]int, 0, d.Len())
	for i := range d.Len() {
		if d.Label(i) < n {
			idx = append(idx, i)
		}
	}
	info.Classes = info.Classes[:n:n]
	return classSubset{d, idx, info}
}

type classSubset struct {
	d    Dataset
	idx  []int
	info Info
}

func (s classSubset) Len() int                               { return len(s.idx) }
func (s classSubset) Info() Info                             { return s.info }
func (s classSubset) Label(i int) int                        { return s.d.Label(s.idx[i]) }
func (s classSubset) Image(i int, buf *Image) (Image, error) { return s.d.Image(s.idx[i], buf) }
