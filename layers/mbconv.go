package layers

// mbconv builds MBConv, the inverted residual of MobileNetV2 and
// EfficientNet (Sandler et al. 2018; Tan & Le 2019; timm
// InvertedResidual): conv_pw (1×1 to Mid) → bn1 + act → conv_dw (k×k
// depthwise, stride) → bn2 + act → se → conv_pwl (1×1 to Out) → bn3.
func (b *blockBuilder) mbconv() {
	c := b.cfg
	b.conv("conv_pw", "bn1", c.In, c.Mid, 1, 1, false, true)
	b.conv("conv_dw", "bn2", c.Mid, c.Mid, c.Kernel, c.Stride, true, true)
	b.se(c.Mid)
	b.conv("conv_pwl", "bn3", c.Mid, c.Out, 1, 1, false, false)
}
