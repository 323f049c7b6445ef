package trainer

import (
	"context"
	"testing"
)

// efficientConfig is quickConfig for one of timm's EfficientNet/MobileNet
// baselines (a spec preset, models/efficient_spec.go) on Fashion-MNIST
// resized to 32×32, the smallest side their five stride-2 steps take.
func efficientConfig(t *testing.T, variant string, steps int) Config {
	c := quickConfig(t, steps)
	c.Model.Variant, c.Data.InputSize = variant, 32
	return c
}

// TestTrainEfficient trains mobilenetv4_conv_small and efficientnet_b0
// through Train for 40 steps of batch 16 on Fashion-MNIST without mixup
// or augmentation and requires the mean training loss of the last two
// log records (steps 31–40) to be below 85 % of the first one's (steps
// 1–5): the baselines train, BatchNorm and all, like any spec model.
func TestTrainEfficient(t *testing.T) {
	for _, variant := range []string{"mobilenetv4_conv_small", "efficientnet_b0"} {
		t.Run(variant, func(t *testing.T) {
			c := efficientConfig(t, variant, 40)
			c.Data.RandAugment, c.Data.RandomErasing, c.Mixup, c.Model.DropPath = "", 0, MixupConfig{}, 0
			c.Train.LogEvery, c.Optim.LR = 5, 2e-3
			var losses []float64
			res, err := Train(context.Background(), c, Options{Hooks: Hooks{OnLog: func(l TrainLog) error {
				losses = append(losses, l.Loss)
				return nil
			}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(losses) != 8 {
				t.Fatalf("%d log records, want 8", len(losses))
			}
			last := (losses[6] + losses[7]) / 2
			t.Logf("losses %.3f; test top-1 %.1f %%", losses, res.Top1)
			if !(last < 0.85*losses[0]) {
				t.Errorf("loss went from %.3f (steps 1-5) to %.3f (steps 31-40)", losses[0], last)
			}
		})
	}
}

// TestResumeEfficient is TestResumeIsBitIdentical for mobilenetv4_conv_small:
// its checkpoint (BatchNorm running statistics included) saves and resumes
// bit for bit.
func TestResumeEfficient(t *testing.T) {
	testResumeIsBitIdentical(t, func(c *Config) { *c = efficientConfig(t, "mobilenetv4_conv_small", 6) })
}
