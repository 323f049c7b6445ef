package trainer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/nextconv/nextconv/datasets"
)

// Data is a run's training and evaluation sets with their transforms.
type Data struct {
	Train, Test         datasets.Dataset
	TrainPipe, EvalPipe *datasets.Pipeline
	Info                datasets.Info
}

// LoadData opens the dataset the [data] section names, downloading it first
// when data.download is set, and builds the training and evaluation
// transforms. Missing or corrupt files give the datasets package's errors,
// which name the path.
func LoadData(ctx context.Context, c DataConfig) (*Data, error) {
	if c.Download {
		if err := download(ctx, c); err != nil {
			return nil, err
		}
	}
	d := &Data{}
	var err error
	switch c.Dataset {
	case "fashion-mnist":
		if d.Train, err = datasets.LoadFashionMNIST(c.Root, datasets.Train); err == nil {
			d.Test, err = datasets.LoadFashionMNIST(c.Root, datasets.Test)
		}
	case "mnist":
		if d.Train, err = datasets.LoadMNIST(c.Root, datasets.Train); err == nil {
			d.Test, err = datasets.LoadMNIST(c.Root, datasets.Test)
		}
	case "cifar10":
		if d.Train, err = datasets.LoadCIFAR10(c.Root, datasets.Train); err == nil {
			d.Test, err = datasets.LoadCIFAR10(c.Root, datasets.Test)
		}
	case "cifar100":
		if d.Train, err = datasets.LoadCIFAR100(c.Root, datasets.Train, false); err == nil {
			d.Test, err = datasets.LoadCIFAR100(c.Root, datasets.Test, false)
		}
	case "imagefolder":
		if c.TrainDir == "" || c.ValDir == "" {
			return nil, fmt.Errorf("data: imagefolder needs data.train_dir and data.val_dir")
		}
		var train *datasets.ImageFolder
		if train, err = datasets.LoadImageFolder(c.TrainDir, datasets.ImageFolderOptions{}); err == nil {
			d.Train = train
			// The validation folder must hold the training classes, or
			// class indices would disagree.
			d.Test, err = datasets.LoadImageFolder(c.ValDir, datasets.ImageFolderOptions{Classes: train.Info().Classes})
		}
	default:
		return nil, fmt.Errorf("data: unknown dataset %q (want fashion-mnist, mnist, cifar10, cifar100 or imagefolder)", c.Dataset)
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if n := c.Classes; n > 0 {
		if n > d.Train.Info().NumClasses() {
			return nil, fmt.Errorf("data: data.classes %d exceeds the %d classes of %s", n, d.Train.Info().NumClasses(), c.Dataset)
		}
		d.Train, d.Test = datasets.FirstClasses(d.Train, n), datasets.FirstClasses(d.Test, n)
	}
	d.Info = d.Train.Info()
	if n := c.EvalImages; n > 0 && n < d.Test.Len() {
		d.Test = datasets.Subset(d.Test, n)
	}
	tc := datasets.DefaultTrainConfig()
	tc.Size, tc.Padding, tc.HFlip, tc.RandAugment, tc.ReProb = c.InputSize, c.CropPadding, c.HFlip, c.RandAugment, c.RandomErasing
	if d.TrainPipe, err = datasets.NewTrainPipeline(d.Info, tc); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if d.EvalPipe, err = EvalPipeline(d.Info, c); err != nil {
		return nil, err
	}
	return d, nil
}

// download fetches the configured dataset into data.root with checksum
// verification, skipping files already present.
func download(ctx context.Context, c DataConfig) error {
	var res []datasets.Resource
	switch c.Dataset {
	case "fashion-mnist":
		res = datasets.FashionMNISTResources
	case "cifar10":
		res = []datasets.Resource{datasets.CIFAR10Resource}
	case "cifar100":
		res = []datasets.Resource{datasets.CIFAR100Resource}
	default:
		return fmt.Errorf("data: download is not available for %q", c.Dataset)
	}
	for _, r := range res {
		if _, err := datasets.Download(ctx, c.Root, r, datasets.DownloadOptions{}); err != nil {
			return fmt.Errorf("data: download into %s: %w", filepath.Clean(c.Root), err)
		}
	}
	return nil
}
