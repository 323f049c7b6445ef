package cuda

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	t.Setenv("NEXTCONV_CUDA_DEVICE", "")
	t.Setenv("NEXTCONV_CUDA_TF32", "")
	c, err := newConfig(nil)
	if err != nil || c != (config{}) {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	t.Setenv("NEXTCONV_CUDA_DEVICE", "2")
	t.Setenv("NEXTCONV_CUDA_TF32", "1")
	if c, err = newConfig(nil); err != nil || c != (config{device: 2, tf32: true}) {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	if c, err = newConfig([]Option{WithDevice(1), WithTF32(false)}); err != nil || c != (config{device: 1}) {
		t.Errorf("options over the environment: %+v, %v", c, err)
	}
	if _, err = newConfig([]Option{WithDevice(-1)}); err == nil {
		t.Error("negative device accepted")
	}
	t.Setenv("NEXTCONV_CUDA_DEVICE", "gpu0")
	if _, err = newConfig(nil); err == nil || !strings.Contains(err.Error(), "NEXTCONV_CUDA_DEVICE") {
		t.Errorf("bad NEXTCONV_CUDA_DEVICE: %v", err)
	}
	t.Setenv("NEXTCONV_CUDA_DEVICE", "0")
	t.Setenv("NEXTCONV_CUDA_TF32", "maybe")
	if _, err = newConfig(nil); err == nil || !strings.Contains(err.Error(), "NEXTCONV_CUDA_TF32") {
		t.Errorf("bad NEXTCONV_CUDA_TF32: %v", err)
	}
}
