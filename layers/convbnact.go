package layers

// convBNAct builds timm's ConvBnAct: conv (k×k dense to Out, stride) → bn1
// + act, with a residual only when Skip is set (EfficientNetV2's first
// stage; MobileNetV4's plain convolution stages).
func (b *blockBuilder) convBNAct() {
	c := b.cfg
	b.conv("conv", "bn1", c.In, c.Out, c.Kernel, c.Stride, false, true)
}
