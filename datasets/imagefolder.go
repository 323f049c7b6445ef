package datasets

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder for image.Decode
	_ "image/png"  // registers the PNG decoder for image.Decode
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/image/draw"
)

// ImageFolderOptions configures [LoadImageFolder].
type ImageFolderOptions struct {
	// Channels is 3 (RGB, the default) or 1 (grayscale by PIL's
	// convert("L") luma, (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16).
	Channels int
	// Size, when positive, resizes every image to exactly Size×Size.
	Size int
	// ShorterSide, when positive (and Size is 0), resizes every image so
	// that its shorter side is ShorterSide, keeping the aspect ratio with
	// the longer side truncated (torchvision Resize(int)).
	ShorterSide int
	// Kernel resamples for Size/ShorterSide; nil means draw.CatmullRom
	// (bicubic, a = −0.5, antialiased when shrinking).
	Kernel draw.Interpolator
	// Preload decodes every image when the folder is loaded and keeps the
	// 8-bit pixels in memory; otherwise each [ImageFolder.Image] call reads
	// and decodes its file.
	Preload bool
	// Mean and Std normalise the images; nil means ImageNet's statistics
	// for RGB and 0.5/0.5 for grayscale.
	Mean, Std []float64
	// MaxPixels is the pixel budget (width·height) of an image, checked
	// against the file's header before decoding and against the resized
	// size; 0 means [DefaultMaxPixels].
	MaxPixels int64
	// Classes, when set, are the class directory names the folder must
	// hold, no more and no fewer (a validation folder gets the training
	// folder's classes, so that class indices agree).
	Classes []string
}

// ImageFolder is a dataset laid out as torchvision's ImageFolder: one
// directory per class under the root, class index = position of the
// directory name in sorted order, and every JPEG or PNG file below a class
// directory (searched recursively, files of a directory before those of
// its subdirectories, names sorted) is a sample of that class. Extensions
// are matched case-insensitively: .jpg, .jpeg, .png; other files are
// ignored.
type ImageFolder struct {
	root   string
	info   Info
	files  []string
	labels []int
	opts   ImageFolderOptions
	cache  []Image // decoded images when Preload is set
}

// LoadImageFolder scans root and returns the dataset. It returns an error
// wrapping [ErrEmptyClass] naming the directory when root has no class
// directory or a class directory holds no image, [ErrClasses] listing the
// missing and extra classes when opts.Classes is set and differs, and with
// Preload set any decoding error ([ErrFormat], or [ErrLimit] for an image
// over the pixel budget) naming the file.
func LoadImageFolder(root string, opts ImageFolderOptions) (*ImageFolder, error) {
	if opts.Channels == 0 {
		opts.Channels = 3
	}
	if opts.Channels != 1 && opts.Channels != 3 {
		return nil, fmt.Errorf("datasets: image folder %s: %d channels, want 1 or 3", root, opts.Channels)
	}
	if opts.Kernel == nil {
		opts.Kernel = draw.CatmullRom
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if e.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("datasets: image folder %s has no class directory: %w", root, ErrEmptyClass)
	}
	sort.Strings(classes)
	if opts.Classes != nil {
		if err := sameClasses(root, classes, opts.Classes); err != nil {
			return nil, err
		}
	}
	d := &ImageFolder{root: root, opts: opts}
	for label, class := range classes {
		files, err := classFiles(filepath.Join(root, class))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("datasets: image folder class %q (%s) holds no .jpg, .jpeg or .png file: %w",
				class, filepath.Join(root, class), ErrEmptyClass)
		}
		for _, f := range files {
			d.files = append(d.files, f)
			d.labels = append(d.labels, label)
		}
	}
	d.info = Info{Name: filepath.Base(root), Classes: classes, C: opts.Channels, Mean: opts.Mean, Std: opts.Std}
	if d.info.Mean == nil && d.info.Std == nil {
		if opts.Channels == 3 {
			d.info.Mean, d.info.Std = ImageNetMean, ImageNetStd
		} else {
			d.info.Mean, d.info.Std = []float64{0.5}, []float64{0.5}
		}
	}
	if opts.Size > 0 {
		d.info.H, d.info.W = opts.Size, opts.Size
	}
	if err := d.info.check(); err != nil {
		return nil, err
	}
	if opts.Preload {
		if err := d.preload(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// sameClasses reports an error wrapping [ErrClasses] naming root and
// listing the classes of want that root lacks and those it has beyond
// want.
func sameClasses(root string, have, want []string) error {
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, c := range list {
			m[c] = true
		}
		return m
	}
	haveSet, wantSet := in(have), in(want)
	var missing, extra []string
	for _, c := range want {
		if !haveSet[c] {
			missing = append(missing, c)
		}
	}
	for _, c := range have {
		if !wantSet[c] {
			extra = append(extra, c)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	return fmt.Errorf("datasets: image folder %s: class directories differ from the %d required (the training set's): missing %q, extra %q: %w",
		root, len(want), missing, extra, ErrClasses)
}

// classFiles lists the images below dir in torchvision's order: directories
// sorted by path, and within each the file names sorted.
func classFiles(dir string) ([]string, error) {
	byDir := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && isImageFile(e.Name()) {
			d := filepath.Dir(p)
			byDir[d] = append(byDir[d], e.Name())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out []string
	for _, d := range dirs {
		names := byDir[d]
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out, nil
}

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

func (d *ImageFolder) preload() error {
	d.cache = make([]Image, len(d.files))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				img, err := d.decode(i, nil)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				d.cache[i] = img
			}
		}()
	}
	for i := range d.files {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		d.cache = nil
	}
	return first
}

// Len returns the number of images.
func (d *ImageFolder) Len() int { return len(d.files) }

// Info returns the metadata: class names in index order, C, and H = W =
// Size when Size is set (0 otherwise: sizes vary).
func (d *ImageFolder) Info() Info { return d.info }

// Label returns the class index of image i.
func (d *ImageFolder) Label(i int) int { return d.labels[i] }

// Path returns the file of image i.
func (d *ImageFolder) Path(i int) string { return d.files[i] }

// Image returns image i, decoded (and resized if configured) into buf's
// storage, or the preloaded pixels. Errors name the file and wrap
// [ErrFormat] for undecodable data.
func (d *ImageFolder) Image(i int, buf *Image) (Image, error) {
	if i < 0 || i >= len(d.files) {
		return Image{}, fmt.Errorf("datasets: image folder %s: sample %d out of range [0, %d)", d.root, i, len(d.files))
	}
	if d.cache != nil {
		return d.cache[i], nil
	}
	return d.decode(i, buf)
}

func (d *ImageFolder) decode(i int, buf *Image) (Image, error) {
	path := d.files[i]
	f, err := os.Open(path)
	if err != nil {
		return Image{}, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	src, err := decodeImage(f, path, d.opts.MaxPixels)
	if err != nil {
		return Image{}, err
	}
	b := src.Bounds()
	if buf == nil {
		buf = new(Image)
	}
	h, w := b.Dy(), b.Dx()
	switch {
	case d.opts.Size > 0:
		h, w = d.opts.Size, d.opts.Size
	case d.opts.ShorterSide > 0:
		h, w = shorterSideSize(h, w, d.opts.ShorterSide)
	}
	if err := checkPixels(path, "resized to", w, h, d.opts.MaxPixels); err != nil {
		return Image{}, err
	}
	if h == b.Dy() && w == b.Dx() {
		toHWC(buf, src, d.opts.Channels)
		return *buf, nil
	}
	// Drop alpha first (PIL's convert("RGB") ignores it) so that the
	// resampler, which works on premultiplied colours, sees opaque pixels.
	var opaque Image
	toHWC(&opaque, src, 3)
	rgba := image.NewRGBA(image.Rect(0, 0, opaque.W, opaque.H))
	for p := range opaque.W * opaque.H {
		copy(rgba.Pix[4*p:4*p+3], opaque.Pix[3*p:3*p+3])
		rgba.Pix[4*p+3] = 255
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	d.opts.Kernel.Scale(dst, dst.Bounds(), rgba, rgba.Bounds(), draw.Src, nil)
	toHWC(buf, dst, d.opts.Channels)
	return *buf, nil
}

// decodeImage decodes a JPEG or PNG image from r after checking the
// dimensions its header announces against maxPixels, so that a small file
// claiming a huge image is refused before its pixels are allocated. Errors
// name name and wrap [ErrFormat] (undecodable or empty) or [ErrLimit].
func decodeImage(r io.ReadSeeker, name string, maxPixels int64) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: decoding image header: %v: %w", name, err, ErrFormat)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("datasets: %s: empty image (%d×%d): %w", name, cfg.Width, cfg.Height, ErrFormat)
	}
	if err := checkPixels(name, "header announces", cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", name, err)
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: decoding image: %v: %w", name, err, ErrFormat)
	}
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("datasets: %s: decoded %d×%d, header says %d×%d: %w", name, b.Dx(), b.Dy(), cfg.Width, cfg.Height, ErrFormat)
	}
	return src, nil
}

// checkPixels reports an error wrapping [ErrLimit] when a w×h image
// exceeds maxPixels; what says where the size comes from.
func checkPixels(name, what string, w, h int, maxPixels int64) error {
	if px := int64(w) * int64(h); px > maxPixels {
		return fmt.Errorf("datasets: %s: %s %d×%d = %d pixels, more than the budget of %d (ImageFolderOptions.MaxPixels): %w",
			name, what, w, h, px, maxPixels, ErrLimit)
	}
	return nil
}

// shorterSideSize returns the (h, w) torchvision's Resize(size) gives an
// h×w image: the shorter side becomes size, the longer int(size·long/short).
func shorterSideSize(h, w, size int) (int, int) {
	if h <= w {
		return size, int(float64(size) * float64(w) / float64(h))
	}
	return int(float64(size) * float64(h) / float64(w)), size
}

// luma is PIL's RGB→L conversion (Convert.c, L24): ITU-R 601-2 weights in
// 16-bit fixed point, rounded.
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// toHWC converts src to an 8-bit HWC image with c channels in dst, dropping
// alpha as PIL's convert("RGB") does.
func toHWC(dst *Image, src image.Image, c int) {
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	dst.resize(h, w, c)
	put := func(o int, r, g, bl uint8) {
		if c == 1 {
			dst.Pix[o] = luma(r, g, bl)
		} else {
			dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2] = r, g, bl
		}
	}
	switch s := src.(type) {
	case *image.Gray:
		for y := range h {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				put((y*w+x)*c, v, v, v)
			}
		}
	case *image.RGBA:
		for y := range h {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			for x := range w {
				put((y*w+x)*c, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			for x := range w {
				put((y*w+x)*c, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	default:
		for y := range h {
			for x := range w {
				col := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				put((y*w+x)*c, col.R, col.G, col.B)
			}
		}
	}
	if g, ok := src.(*image.Gray); ok && c == 1 {
		// Exact copy for gray → gray (luma(v,v,v) == v, but skip the work).
		for y := range h {
			copy(dst.Pix[y*w:(y+1)*w], g.Pix[y*g.Stride:y*g.Stride+w])
		}
	}
}
