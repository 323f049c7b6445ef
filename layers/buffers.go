package layers

// Buffers returns the buffers ([BufferHolder]) of l and every layer below
// it, parents before children, in state-dict order: what a checkpoint saves
// after the parameters.
func Buffers(l Layer) []*Param {
	var out []*Param
	Walk(l, func(c Layer) {
		if b, ok := c.(BufferHolder); ok {
			out = append(out, b.Buffers()...)
		}
	})
	return out
}
