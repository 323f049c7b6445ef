package trainer

import (
	"fmt"
	"os"
	"sort"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/models"
)

// DataInfo returns what the dataset c names looks like — class names,
// channels, native size, normalization — without reading its images, for
// tools that apply a checkpoint to new inputs (predict, ONNX export). An
// imagefolder's classes are the sorted directory names under c.TrainDir
// (torchvision's order, as LoadData assigns labels) with its default
// statistics: ImageNet's for RGB. It returns an error for an unknown
// dataset or an unreadable train_dir.
func DataInfo(c DataConfig) (datasets.Info, error) {
	switch c.Dataset {
	case "fashion-mnist":
		return datasets.FashionMNISTInfo(), nil
	case "mnist":
		return datasets.MNISTInfo(), nil
	case "cifar10":
		return datasets.CIFAR10Info(), nil
	case "cifar100":
		return datasets.CIFAR100Info(false), nil
	case "imagefolder":
		entries, err := os.ReadDir(c.TrainDir)
		if err != nil {
			return datasets.Info{}, fmt.Errorf("data: imagefolder classes: %w", err)
		}
		info := datasets.Info{Name: c.TrainDir, C: 3, Mean: datasets.ImageNetMean, Std: datasets.ImageNetStd}
		for _, e := range entries {
			if e.IsDir() {
				info.Classes = append(info.Classes, e.Name())
			}
		}
		sort.Strings(info.Classes)
		return info, nil
	}
	return datasets.Info{}, fmt.Errorf("data: unknown dataset %q (want fashion-mnist, mnist, cifar10, cifar100 or imagefolder)", c.Dataset)
}

// EvalPipeline returns the evaluation transforms LoadData builds for a
// dataset described by info: resize and crop to c.InputSize (0: the native
// size) with bicubic resampling, then normalize with info's statistics.
func EvalPipeline(info datasets.Info, c DataConfig) (*datasets.Pipeline, error) {
	p, err := datasets.NewEvalPipeline(info, c.InputSize, 0, datasets.Bicubic, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return p, nil
}

// HasRunConfig reports whether the checkpoint at path stores the training
// configuration of the run that wrote it (a bare model file, such as
// models.Model.Save writes, does not).
func HasRunConfig(path string) (bool, error) {
	meta, err := models.ReadMetadata(path)
	if err != nil {
		return false, err
	}
	_, ok := meta[metaRun]
	return ok, nil
}
