package datasets

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// loadRealFashion loads split from DefaultFashionMNISTDir or skips the test
// naming the path.
func loadRealFashion(t testing.TB, split Split) *Memory {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed at %s (%v)", DefaultFashionMNISTDir, err)
	}
	d, err := LoadFashionMNIST(DefaultFashionMNISTDir, split)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFashionMNISTReal(t *testing.T) {
	train := loadRealFashion(t, Train)
	test := loadRealFashion(t, Test)
	for _, c := range []struct {
		d        *Memory
		n, per   int
		name     string
		firstLab []int
	}{
		{train, 60000, 6000, "train", []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}},
		{test, 10000, 1000, "test", []int{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}},
	} {
		info := c.d.Info()
		if c.d.Len() != c.n || info.H != 28 || info.W != 28 || info.C != 1 || info.NumClasses() != 10 {
			t.Fatalf("%s: %d images of %dx%dx%d, %d classes; want %d of 28x28x1, 10 classes",
				c.name, c.d.Len(), info.H, info.W, info.C, info.NumClasses(), c.n)
		}
		for k, n := range Histogram(c.d) {
			if n != c.per {
				t.Errorf("%s: class %d (%s) has %d images, want %d", c.name, k, info.Classes[k], n, c.per)
			}
		}
		for i, want := range c.firstLab {
			if got := c.d.Label(i); got != want {
				t.Errorf("%s: label[%d] = %d, want %d", c.name, i, got, want)
			}
		}
	}
}

// TestFashionMNISTStats recomputes the mean and std documented on
// FashionMNISTMean/FashionMNISTStd from the training images.
func TestFashionMNISTStats(t *testing.T) {
	d := loadRealFashion(t, Train)
	var sum, sq float64
	n := 0
	for i := range d.Len() {
		im, _ := d.Image(i, nil)
		for _, v := range im.Pix {
			x := float64(v) / 255
			sum += x
			sq += x * x
			n++
		}
	}
	mean := sum / float64(n)
	std := math.Sqrt(sq/float64(n) - mean*mean)
	t.Logf("Fashion-MNIST train: mean %.7f std %.7f over %d pixels", mean, std, n)
	if math.Abs(mean-0.2860406) > 1e-6 || math.Abs(std-0.3530242) > 1e-6 {
		t.Errorf("mean %.7f std %.7f, want 0.2860406 0.3530242", mean, std)
	}
	if math.Abs(mean-FashionMNISTMean[0]) > 1e-4 || math.Abs(std-FashionMNISTStd[0]) > 1e-4 {
		t.Errorf("documented stats %v %v disagree with measured %.5f %.5f", FashionMNISTMean, FashionMNISTStd, mean, std)
	}
}
