package layers

// BufferHolder is implemented by layers with named buffers: state that is
// saved and loaded with the parameters but not trained (BatchNorm's
// running mean and variance, its batch counter). A buffer is a [Param]
// whose Grad is nil; optimizers never see it, checkpoints write and read
// it by Name after the parameters.
type BufferHolder interface {
	// Buffers returns the layer's own buffers (not its children's) in
	// state-dict order.
	Buffers() []*Param
}

// Buffers returns the buffers of l and every layer below it, parents
// before children, in state-dict order.
func Buffers(l Layer) []*Param {
	var out []*Param
	Walk(l, func(c Layer) {
		if b, ok := c.(BufferHolder); ok {
			out = append(out, b.Buffers()...)
		}
	})
	return out
}
