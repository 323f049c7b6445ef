package datasets

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// archiveServer serves body under several behaviours on a loopback
// httptest server:
//
//	/ok/NAME         the full body, honouring Range requests
//	/cut/NAME        the first 1/3 of the body, then a dropped connection
//	                 (Content-Length announces all of it); never honours Range
//	/cutonce/NAME    like /cut the first time, then like /ok
//	/missing/NAME    404
type archiveServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int
	ranges   []string
}

func newArchiveServer(t *testing.T, body []byte) *archiveServer {
	s := &archiveServer{requests: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
		s.requests[mode]++
		n := s.requests[mode]
		if rg := r.Header.Get("Range"); rg != "" {
			s.ranges = append(s.ranges, mode+" "+rg)
		}
		s.mu.Unlock()
		switch {
		case mode == "missing":
			http.NotFound(w, r)
		case mode == "cut" || (mode == "cutonce" && n == 1):
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/3])
			panic(http.ErrAbortHandler) // drop the connection mid-body
		default:
			http.ServeContent(w, r, "archive", time.Time{}, bytes.NewReader(body))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func digests(b []byte) (string, string) {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

func TestDownloadCIFARArchive(t *testing.T) {
	files, order := tinyCIFAR10()
	body := tarGz(t, files, order)
	srv := newArchiveServer(t, body)
	md5sum, sha := digests(body)
	dir := filepath.Join(t.TempDir(), "data")
	var calls int
	var lastDone, lastTotal int64
	opt := DownloadOptions{Client: srv.Client(), Progress: func(file string, done, total int64) {
		calls++
		lastDone, lastTotal = done, total
		if file != "cifar-10-binary.tar.gz" {
			t.Errorf("progress for %q", file)
		}
	}}
	res := Resource{File: "cifar-10-binary.tar.gz", URLs: []string{srv.URL + "/missing/x", srv.URL + "/ok/x"},
		MD5: md5sum, SHA256: sha, Size: int64(len(body))}
	path, err := Download(context.Background(), dir, res, opt)
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || lastDone != int64(len(body)) || lastTotal != int64(len(body)) {
		t.Errorf("progress: %d calls, last %d/%d, want %d", calls, lastDone, lastTotal, len(body))
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Errorf("part file left behind: %v", err)
	}
	d, err := LoadCIFAR10(path, Train)
	if err != nil || d.Len() != 10 {
		t.Fatalf("loading the downloaded archive: %v", err)
	}
	// Present and valid: no request.
	before := srv.requests["ok"]
	if _, err := Download(context.Background(), dir, res, opt); err != nil || srv.requests["ok"] != before {
		t.Errorf("second download: %v, %d new requests", err, srv.requests["ok"]-before)
	}
	// Present but corrupt: fetched again.
	os.WriteFile(path, []byte("corrupt"), 0o644)
	if _, err := Download(context.Background(), dir, res, opt); err != nil || srv.requests["ok"] != before+1 {
		t.Errorf("re-download of a corrupt file: %v", err)
	}
}

func TestDownloadFailures(t *testing.T) {
	body := []byte(strings.Repeat("fashion-mnist bytes ", 5000))
	srv := newArchiveServer(t, body)
	md5sum, _ := digests(body)
	opt := DownloadOptions{Client: srv.Client(), Attempts: 2}
	dir := t.TempDir()

	// Wrong checksum: ErrChecksum naming file and URL, nothing left on disk.
	wrong := Resource{File: "train-images-idx3-ubyte.gz", URLs: []string{srv.URL + "/ok/a"}, MD5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d"}
	_, err := Download(context.Background(), dir, wrong, opt)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") ||
		!strings.Contains(err.Error(), srv.URL+"/ok/a") || !strings.Contains(err.Error(), md5sum) {
		t.Errorf("wrong checksum: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left after a checksum failure: %v", entries)
	}

	// 404 only: the status and URL are in the error, no retry of a 404.
	_, err = Download(context.Background(), dir, Resource{File: "f", URLs: []string{srv.URL + "/missing/f"}, MD5: md5sum}, opt)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/missing/f") || srv.requests["missing"] != 1 {
		t.Errorf("404: %v (%d requests)", err, srv.requests["missing"])
	}

	// Always truncated, no Range support: error after the attempts, the
	// part file kept for a later resume.
	cut := Resource{File: "cut.gz", URLs: []string{srv.URL + "/cut/f"}, MD5: md5sum}
	_, err = Download(context.Background(), dir, cut, opt)
	if err == nil || !strings.Contains(err.Error(), "transfer cut after") || srv.requests["cut"] != 2 {
		t.Errorf("truncated body: %v (%d requests)", err, srv.requests["cut"])
	}
	if _, err := os.Stat(filepath.Join(dir, "cut.gz")); !os.IsNotExist(err) {
		t.Error("a truncated download produced the final file")
	}

	// Truncated once, then resumed with a Range request.
	once := Resource{File: "once.gz", URLs: []string{srv.URL + "/cutonce/f"}, MD5: md5sum, Size: int64(len(body))}
	path, err := Download(context.Background(), dir, once, opt)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(body) {
		t.Error("resumed file differs from the body")
	}
	wantRange := "cutonce bytes=" + strconv.Itoa(len(body)/3) + "-"
	if len(srv.ranges) == 0 || srv.ranges[len(srv.ranges)-1] != wantRange {
		t.Errorf("range requests %v, want %q", srv.ranges, wantRange)
	}

	// Cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Download(ctx, dir, Resource{File: "c", URLs: []string{srv.URL + "/ok/c"}, MD5: md5sum}, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestPublishedResources(t *testing.T) {
	for _, r := range append(append([]Resource{}, FashionMNISTResources...), CIFAR10Resource, CIFAR100Resource) {
		if len(r.MD5) != 32 || len(r.URLs) == 0 || r.File == "" {
			t.Errorf("%+v: want a file, URLs and a 32-digit MD5", r)
		}
		for _, u := range r.URLs {
			if !strings.HasSuffix(u, "/"+r.File) {
				t.Errorf("%s: URL %s does not end in the file name", r.File, u)
			}
		}
	}
}

// stalledServer is a loopback server whose handler for /headers/ sends the
// headers and half the body, then stalls, and for anything else stalls
// before the headers, until the test ends or the client goes away.
func stalledServer(t *testing.T, body []byte) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/headers/") {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	return srv
}

func TestDownloadStalledServer(t *testing.T) {
	body := []byte(strings.Repeat("cifar bytes ", 1000))
	md5sum, _ := digests(body)
	srv := stalledServer(t, body)
	// A listener that never accepts: the kernel completes the TCP
	// handshake, then nothing; fetched with Download's own client.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const idle = 200 * time.Millisecond
	for _, c := range []struct {
		url    string
		client *http.Client
	}{
		{srv.URL + "/headers/f", srv.Client()},
		{srv.URL + "/silent/f", srv.Client()},
		{"http://" + ln.Addr().String() + "/f", nil},
	} {
		dir := t.TempDir()
		opt := DownloadOptions{Client: c.client, Attempts: 2, IdleTimeout: idle}
		start := time.Now()
		_, err := Download(context.Background(), dir, Resource{File: "f", URLs: []string{c.url}, MD5: md5sum}, opt)
		took := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), c.url) ||
			!strings.Contains(err.Error(), "no data from the server for 200ms (idle timeout)") {
			t.Errorf("%s: error %v, want an idle timeout naming the URL", c.url, err)
		}
		// Two attempts of one idle timeout each, with slack for a loaded machine.
		if took < 2*idle || took > 10*time.Second {
			t.Errorf("%s: gave up after %v, want about %v", c.url, took, 2*idle)
		}
		if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
			t.Errorf("%s: a stalled download produced the final file", c.url)
		}
		t.Logf("%s: %v after %v", c.url, err, took.Round(time.Millisecond))
	}
}

// With every mirror failing, each one's error is in the message: a
// checksum mismatch on the first is not hidden by the second's 502.
func TestDownloadReportsEveryMirror(t *testing.T) {
	body := []byte(strings.Repeat("fashion-mnist bytes ", 100))
	srv := newArchiveServer(t, body)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	t.Cleanup(bad.Close)
	wrongMD5 := "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
	res := Resource{File: "train-images-idx3-ubyte.gz", URLs: []string{srv.URL + "/ok/a", bad.URL + "/b"}, MD5: wrongMD5}
	_, err := Download(context.Background(), t.TempDir(), res, DownloadOptions{Client: srv.Client(), Attempts: 1})
	msg := fmt.Sprint(err)
	t.Log(msg)
	for _, want := range []string{"download train-images-idx3-ubyte.gz: all 2 mirrors failed", srv.URL + "/ok/a", "MD5", wrongMD5,
		bad.URL + "/b", "502 Bad Gateway"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v does not wrap ErrChecksum", err)
	}
	if strings.Index(msg, srv.URL+"/ok/a") > strings.Index(msg, bad.URL+"/b") {
		t.Errorf("mirrors out of order: %s", msg)
	}
}
