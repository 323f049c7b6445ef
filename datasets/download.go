package datasets

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Resource is one downloadable file: its name in the destination
// directory, mirror URLs tried in order, and the published digests it must
// match (hex; an empty digest is not checked, at least one should be set).
// Size, when positive, is the exact byte count.
type Resource struct {
	File   string
	URLs   []string
	MD5    string
	SHA256 string
	Size   int64
}

// Published downloads. MD5s are the ones the dataset authors publish
// (CIFAR: https://www.cs.toronto.edu/~kriz/cifar.html; Fashion-MNIST: the
// zalandoresearch/fashion-mnist README, also torchvision's FashionMNIST
// resources).
var (
	// FashionMNISTResources are the four gzip files of Fashion-MNIST, from
	// Zalando's S3 website mirror (torchvision's source) and the GitHub
	// repository.
	FashionMNISTResources = []Resource{
		fashionMNIST("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
		fashionMNIST("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
		fashionMNIST("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
		fashionMNIST("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
	}
	// CIFAR10Resource is the CIFAR-10 binary version (162 MB).
	CIFAR10Resource = Resource{
		File: "cifar-10-binary.tar.gz",
		URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
		MD5:  "c32a1d4ab5d03f1284b67883e8d87530",
	}
	// CIFAR100Resource is the CIFAR-100 binary version (161 MB).
	CIFAR100Resource = Resource{
		File: "cifar-100-binary.tar.gz",
		URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"},
		MD5:  "03b5dce01913d631647c71ecec9e9cb8",
	}
)

func fashionMNIST(file, md5 string) Resource {
	return Resource{File: file, MD5: md5, URLs: []string{
		"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + file,
		"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/" + file,
	}}
}

// DownloadOptions configures [Download].
type DownloadOptions struct {
	// Client does the requests; nil means http.DefaultClient.
	Client *http.Client
	// Progress, if set, is called after every chunk with the bytes of the
	// file on disk so far and the total (−1 when the server does not say).
	Progress func(file string, done, total int64)
	// Attempts is the number of tries per URL (a truncated transfer is
	// resumed on the next try); 0 means 3.
	Attempts int
}

// httpError is a non-success HTTP status.
type httpError struct {
	url  string
	code int
}

func (e *httpError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

// permanent reports whether retrying the same URL is pointless.
func permanent(err error) bool {
	var he *httpError
	if errors.As(err, &he) {
		return he.code >= 400 && he.code < 500 && he.code != http.StatusRequestTimeout && he.code != http.StatusTooManyRequests
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrChecksum)
}

// Download fetches r into dir (created if needed) and returns the file's
// path. A file already there whose digests match is kept without any
// request. Otherwise bytes go to dir/File.part: an interrupted transfer is
// resumed with an HTTP Range request on the next attempt (restarted from
// zero if the server ignores the range), the finished file is checked
// against MD5, SHA256 and Size, synced and atomically renamed into place.
// A mismatch deletes the part file and returns an error wrapping
// [ErrChecksum] that names the file, URL and both digests. Mirrors are
// tried in order; the error of the last one is returned.
func Download(ctx context.Context, dir string, r Resource, opt DownloadOptions) (string, error) {
	if r.File == "" || len(r.URLs) == 0 {
		return "", fmt.Errorf("datasets: download: resource %q has no file name or URL", r.File)
	}
	final := filepath.Join(dir, r.File)
	if fileExists(final) && verifyFile(final, r, "") == nil {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("datasets: download: %w", err)
	}
	attempts := opt.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	part := final + ".part"
	var last error
	for _, url := range r.URLs {
		var err error
		for range attempts {
			if err = fetch(ctx, url, part, r, opt); err == nil || permanent(err) {
				break
			}
		}
		if err == nil {
			err = verifyFile(part, r, url)
			if err == nil {
				if err = os.Rename(part, final); err == nil {
					syncDir(dir)
					return final, nil
				}
			}
			os.Remove(part)
		}
		last = fmt.Errorf("datasets: download %s: %w", r.File, err)
		if ctx.Err() != nil {
			break
		}
	}
	return "", last
}

// fetch appends the rest of url to part (or rewrites it when the server
// does not honour the range).
func fetch(ctx context.Context, url, part string, r Resource, opt DownloadOptions) error {
	client := opt.Client
	if client == nil {
		client = http.DefaultClient
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	off := st.Size()
	if r.Size > 0 && off > r.Size {
		off = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		off = 0
	case http.StatusPartialContent:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			f.Truncate(0)
			return fmt.Errorf("GET %s: server resumed at %q, wanted byte %d; restarting", url, resp.Header.Get("Content-Range"), off)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		f.Truncate(0)
		return fmt.Errorf("GET %s: range from byte %d not satisfiable; restarting", url, off)
	default:
		return &httpError{url: url, code: resp.StatusCode}
	}
	if err := f.Truncate(off); err != nil {
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = off + resp.ContentLength
	}
	if r.Size > 0 && total >= 0 && total != r.Size {
		return fmt.Errorf("GET %s: server announces %d bytes, want %d: %w", url, total, r.Size, ErrChecksum)
	}
	done := off
	if opt.Progress != nil {
		opt.Progress(r.File, done, total)
	}
	buf := make([]byte, 1<<16)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			if opt.Progress != nil {
				opt.Progress(r.File, done, total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Sync()
			return fmt.Errorf("GET %s: transfer cut after %d of %s bytes: %w", url, done, sizeString(total), rerr)
		}
	}
	if total >= 0 && done != total {
		return fmt.Errorf("GET %s: transfer cut after %d of %d bytes: %w", url, done, total, io.ErrUnexpectedEOF)
	}
	return f.Sync()
}

func sizeString(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}

// contentRangeStart parses the first byte of "bytes a-b/n".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(a, 10, 64)
	return v, err == nil
}

// verifyFile checks path against r's size and digests.
func verifyFile(path string, r Resource, url string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hm, hs := md5.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(hm, hs), f)
	if err != nil {
		return err
	}
	from := ""
	if url != "" {
		from = " from " + url
	}
	if r.Size > 0 && n != r.Size {
		return fmt.Errorf("%s%s: %d bytes, want %d: %w", path, from, n, r.Size, ErrChecksum)
	}
	for _, c := range []struct {
		name, want string
		h          hash.Hash
	}{{"MD5", r.MD5, hm}, {"SHA-256", r.SHA256, hs}} {
		if c.want == "" {
			continue
		}
		if got := hex.EncodeToString(c.h.Sum(nil)); !strings.EqualFold(got, c.want) {
			return fmt.Errorf("%s%s: %s %s, want %s: %w", path, from, c.name, got, c.want, ErrChecksum)
		}
	}
	return nil
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
