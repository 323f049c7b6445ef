package models

// NCHWToNHWC returns PyTorch's [N, C, H, W] array v rearranged into NHWC
// [N, H, W, C], nextconv's activation layout.
func NCHWToNHWC(v []float32, n, c, h, w int) []float32 {
	out := make([]float32, len(v))
	for i := range n {
		for ch := range c {
			for y := range h {
				for x := range w {
					out[((i*h+y)*w+x)*c+ch] = v[((i*c+ch)*h+y)*w+x]
				}
			}
		}
	}
	return out
}

// NHWCToNCHW is the inverse of NCHWToNHWC: nextconv's NHWC [N, H, W, C]
// array v as PyTorch's [N, C, H, W].
func NHWCToNCHW(v []float32, n, h, w, c int) []float32 {
	out := make([]float32, len(v))
	for i := range n {
		for ch := range c {
			for y := range h {
				for x := range w {
					out[((i*c+ch)*h+y)*w+x] = v[((i*h+y)*w+x)*c+ch]
				}
			}
		}
	}
	return out
}
