package datasets

import (
	"fmt"
	"math"
)

// Info describes a dataset: its class names (index = label), the size of its
// images and the per-channel mean and standard deviation used to normalise
// them. Mean and Std are in units of v/255 (torchvision's ToTensor scale).
// H and W are 0 when images vary in size (an ImageFolder read without a
// resize).
type Info struct {
	Name      string
	Classes   []string
	H, W, C   int
	Mean, Std []float64
}

// NumClasses returns len(Classes).
func (i Info) NumClasses() int { return len(i.Classes) }

// Fill returns the 8-bit colour timm fills exposed areas with in
// RandAugment's geometric ops: min(255, round(255·mean[c])) per channel
// (timm create_transform's img_mean hyper-parameter).
func (i Info) Fill() []uint8 {
	f := make([]uint8, len(i.Mean))
	for c, m := range i.Mean {
		f[c] = uint8(min(255, math.RoundToEven(255*m)))
	}
	return f
}

// check validates the metadata of a dataset before it is used.
func (i Info) check() error {
	if i.C != 1 && i.C != 3 {
		return fmt.Errorf("datasets: %s: %d channels, want 1 or 3", i.Name, i.C)
	}
	if len(i.Mean) != i.C || len(i.Std) != i.C {
		return fmt.Errorf("datasets: %s: mean/std have %d/%d values for %d channels", i.Name, len(i.Mean), len(i.Std), i.C)
	}
	for c, s := range i.Std {
		if !(s > 0) {
			return fmt.Errorf("datasets: %s: std[%d] = %g, want > 0", i.Name, c, s)
		}
	}
	return nil
}

// Per-dataset channel statistics, in units of v/255. Each is the mean and
// population standard deviation of all pixels of the training split.
var (
	// ImageNetMean and ImageNetStd are timm's IMAGENET_DEFAULT_MEAN/STD
	// (timm/data/constants.py), the defaults of the ConvNeXt V2 fine-tuning
	// code for every dataset, CIFAR included (docs/CONVNEXTV2.md §3.2).
	ImageNetMean = []float64{0.485, 0.456, 0.406}
	ImageNetStd  = []float64{0.229, 0.224, 0.225}

	// MNISTMean and MNISTStd are the values of the PyTorch MNIST example
	// (pytorch/examples mnist/main.py, Normalize((0.1307,), (0.3081,))).
	MNISTMean = []float64{0.1307}
	MNISTStd  = []float64{0.3081}

	// FashionMNISTMean and FashionMNISTStd: over the 60,000 training images
	// of zalandoresearch/fashion-mnist we measure mean 0.2860406 and std
	// 0.3530242 (TestFashionMNISTStats recomputes them); 0.2860/0.3530 is
	// the rounding in common use.
	FashionMNISTMean = []float64{0.2860}
	FashionMNISTStd  = []float64{0.3530}

	// CIFAR10Mean and CIFAR10Std are over the 50,000 training images, the
	// values most CIFAR-10 torchvision recipes use. (The also-common std
	// 0.2023, 0.1994, 0.2010 is not the pixel std of the training set.)
	CIFAR10Mean = []float64{0.4914, 0.4822, 0.4465}
	CIFAR10Std  = []float64{0.2470, 0.2435, 0.2616}

	// CIFAR100Mean and CIFAR100Std are over the 50,000 training images,
	// rounded from weiaicunzai/pytorch-cifar100 conf/global_settings.py
	// (0.50708, 0.48655, 0.44092) / (0.26733, 0.25644, 0.27615).
	CIFAR100Mean = []float64{0.5071, 0.4865, 0.4409}
	CIFAR100Std  = []float64{0.2673, 0.2564, 0.2762}
)

// Class names, index = label.
var (
	// MNISTClasses are the digits "0" … "9".
	MNISTClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

	// FashionMNISTClasses are the labels of zalandoresearch/fashion-mnist
	// (README, "Labels").
	FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

	// CIFAR10Classes are the lines of batches.meta.txt in
	// cifar-10-binary.tar.gz.
	CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer",
		"dog", "frog", "horse", "ship", "truck"}

	// CIFAR100Classes are the 100 fine labels (fine_label_names.txt of
	// cifar-100-binary.tar.gz; alphabetical).
	CIFAR100Classes = []string{
		"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
		"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
		"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
		"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
		"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
		"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
		"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
		"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
		"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
		"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
	}

	// CIFAR100CoarseClasses are the 20 superclasses
	// (coarse_label_names.txt of cifar-100-binary.tar.gz).
	CIFAR100CoarseClasses = []string{
		"aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
		"household_electrical_devices", "household_furniture", "insects", "large_carnivores",
		"large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
		"medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
		"vehicles_1", "vehicles_2",
	}
)

// MNISTInfo describes MNIST: 28×28×1, 10 digit classes.
func MNISTInfo() Info {
	return Info{Name: "MNIST", Classes: MNISTClasses, H: 28, W: 28, C: 1, Mean: MNISTMean, Std: MNISTStd}
}

// FashionMNISTInfo describes Fashion-MNIST: 28×28×1, 10 classes.
func FashionMNISTInfo() Info {
	return Info{Name: "Fashion-MNIST", Classes: FashionMNISTClasses, H: 28, W: 28, C: 1,
		Mean: FashionMNISTMean, Std: FashionMNISTStd}
}

// CIFAR10Info describes CIFAR-10: 32×32×3, 10 classes.
func CIFAR10Info() Info {
	return Info{Name: "CIFAR-10", Classes: CIFAR10Classes, H: 32, W: 32, C: 3, Mean: CIFAR10Mean, Std: CIFAR10Std}
}

// CIFAR100Info describes CIFAR-100 with its 100 fine labels, or its 20
// coarse labels when coarse is true: 32×32×3.
func CIFAR100Info(coarse bool) Info {
	i := Info{Name: "CIFAR-100", Classes: CIFAR100Classes, H: 32, W: 32, C: 3, Mean: CIFAR100Mean, Std: CIFAR100Std}
	if coarse {
		i.Name, i.Classes = "CIFAR-100 (coarse)", CIFAR100CoarseClasses
	}
	return i
}
