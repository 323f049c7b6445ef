package layers

// depthwiseSeparable builds the depthwise-separable block (MobileNetV1;
// EfficientNet's first stage; timm DepthwiseSeparableConv): conv_dw (k×k
// depthwise, stride) → bn1 + act → se → conv_pw (1×1 to Out) → bn2.
func (b *blockBuilder) depthwiseSeparable() {
	c := b.cfg
	b.conv("conv_dw", "bn1", c.In, c.In, c.Kernel, c.Stride, true, true)
	b.se(c.In)
	b.conv("conv_pw", "bn2", c.In, c.Out, 1, 1, false, false)
}
