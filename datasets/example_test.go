package datasets_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/nextconv/nextconv/datasets"
)

// The trainer's view: a shuffled, augmented training stream that can be
// resumed from a checkpointed State, and a one-pass evaluation stream.
func Example() {
	train, err := datasets.LoadFashionMNIST(datasets.DefaultFashionMNISTDir, datasets.Train)
	if err != nil {
		log.Fatal(err)
	}
	pipe, err := datasets.NewTrainPipeline(train.Info(), datasets.DefaultTrainConfig())
	if err != nil {
		log.Fatal(err)
	}
	var resume datasets.State // from the checkpoint; zero for a fresh run
	loader, err := datasets.NewLoader(context.Background(), datasets.LoaderConfig{
		Dataset: train, Pipeline: pipe, BatchSize: 128, Shuffle: true, DropLast: true,
		Seed: 42, Workers: 2, Start: resume, Epochs: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer loader.Close()
	for {
		b, err := loader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		// Upload b.Images ([N,H,W,C] float32) and b.Labels, train a step,
		// and checkpoint loader.State() alongside the weights.
		_ = b
		break
	}

	test, _ := datasets.LoadFashionMNIST(datasets.DefaultFashionMNISTDir, datasets.Test)
	evalPipe, _ := datasets.NewEvalPipeline(test.Info(), 0, 0, datasets.Bicubic, nil, nil)
	eval, _ := datasets.NewLoader(context.Background(), datasets.LoaderConfig{
		Dataset: test, Pipeline: evalPipe, BatchSize: 256, Epochs: 1,
	})
	defer eval.Close()
	fmt.Println(eval.StepsPerEpoch()) // 10000 / 256, last batch kept: 40
}
