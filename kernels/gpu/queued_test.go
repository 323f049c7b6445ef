//go:build !(cuda && cgo)

package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/kernels"
)

// faultyAdd opens a backend on drv and returns a tensor pair for which
// Add writes 4 floats past the end of y's allocation (y claims 68
// elements of a 64-element buffer), an out-of-bounds write the simulator
// finds in the allocation's guard bytes; and a correct tensor x.
func faultyAdd(t *testing.T, drv cuda.Driver) (b *Backend, y, x kernels.Tensor) {
	t.Helper()
	if asanBuild {
		t.Skip("under ASan the out-of-bounds write aborts the process instead of being reported (cuda/sim/doc.go)")
	}
	b, err := New(drv)
	if err != nil {
		t.Fatal(err)
	}
	b.SyncEach = false
	small, err := b.Alloc(kernels.Shape{64})
	if err != nil {
		t.Fatal(err)
	}
	if x, err = b.Alloc(kernels.Shape{68}); err != nil {
		t.Fatal(err)
	}
	y = kernels.Tensor{Shape: kernels.Shape{68}, Data: Buffer{Ptr: small.Data.(Buffer).Ptr, N: 68}}
	return b, y, x
}

// TestSyncEachFaultNamesKernelAndRange: with SyncEach
// (NEXTCONV_CUDA_SYNC=1) a kernel's out-of-bounds write is reported with
// exactly that kernel and the NVTX range it was launched in.
func TestSyncEachFaultNamesKernelAndRange(t *testing.T) {
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, y, x := faultyAdd(t, d)
	b.SyncEach = true
	b.RangePush("stages.1.blocks.0")
	if err := b.Scale(x, x, 2); err != nil {
		t.Fatal(err)
	}
	b.RangePush("stages.1.blocks.0.residual")
	err = b.Add(y, x, x)
	var qe *QueuedError
	if !errors.As(err, &qe) || !errors.Is(err, sim.ErrKernelFault) {
		t.Fatalf("Add with an out-of-bounds output: %v, want a QueuedError wrapping a kernel fault", err)
	}
	if want := []string{"add_f32 (in stages.1.blocks.0.residual)"}; len(qe.Queued) != 1 || qe.Queued[0] != want[0] || qe.Earlier != 0 {
		t.Errorf("queued kernels %q (+%d earlier), want %q", qe.Queued, qe.Earlier, want)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "gpu: kernel add_f32 (in stages.1.blocks.0.residual): ") || !strings.Contains(msg, "out-of-bounds") {
		t.Errorf("message %q", msg)
	}
}

// deferred is a driver whose launches fail only at the next Synchronize,
// as a kernel fault on a GPU surfaces at the next check: it hides a launch
// error of the simulator underneath until then.
type deferred struct {
	cuda.Driver
	pending error
}

func (d *deferred) Launch(f cuda.Function, grid, block cuda.Dim3, smem int, args *cuda.Args) error {
	if err := d.Driver.Launch(f, grid, block, smem, args); err != nil && d.pending == nil {
		d.pending = err
	}
	return nil
}

func (d *deferred) Synchronize() error {
	err := d.pending
	d.pending = nil
	return err
}

// TestAsyncFaultListsQueuedKernels: without SyncEach a fault surfaces at
// the next check (here Sync), which lists the kernels queued since the
// previous check with their ranges, oldest first; kernels checked before
// are not listed.
func TestAsyncFaultListsQueuedKernels(t *testing.T) {
	d, err := sim.New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, y, x := faultyAdd(t, &deferred{Driver: d})
	if err := b.Scale(x, x, 2); err != nil { // checked below: not listed
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	b.RangePush("stem")
	if err := b.Scale(x, x, 2); err != nil {
		t.Fatal(err)
	}
	b.RangePop()
	b.RangePush("head")
	if err := b.Add(y, x, x); err != nil {
		t.Fatalf("a deferred fault surfaced at the launch: %v", err)
	}
	b.RangePop()
	err = b.Sync()
	var qe *QueuedError
	if !errors.As(err, &qe) || !errors.Is(err, sim.ErrKernelFault) {
		t.Fatalf("Sync after a faulting launch: %v, want a QueuedError wrapping a kernel fault", err)
	}
	want := "scale_f32 (in stem), add_f32 (in head)"
	if got := strings.Join(qe.Queued, ", "); got != want || qe.Earlier != 0 {
		t.Errorf("queued kernels %q (+%d earlier), want %q", got, qe.Earlier, want)
	}
	if !strings.Contains(err.Error(), "kernels queued since the last check, oldest first: "+want) {
		t.Errorf("message %q", err.Error())
	}
}

// TestQueuedErrorKeepsNewest: after more launches than the ring holds, the
// report lists the newest 16 and counts the rest.
func TestQueuedErrorKeepsNewest(t *testing.T) {
	b := &Backend{}
	for i := range 20 {
		b.recent.add("k", string(rune('a'+i)))
	}
	var qe *QueuedError
	if !errors.As(b.queuedError(errors.New("boom")), &qe) {
		t.Fatal("not a QueuedError")
	}
	if len(qe.Queued) != recentLaunches || qe.Earlier != 4 || qe.Queued[0] != "k (in e)" || qe.Queued[15] != "k (in t)" {
		t.Errorf("queued %q, %d earlier", qe.Queued, qe.Earlier)
	}
	if b.queuedError(errors.New("again")).Error() != "again" {
		t.Error("a second error without new launches lists kernels again")
	}
}
