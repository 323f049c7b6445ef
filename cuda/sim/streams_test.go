package sim_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/cuda/sim"
)

// TestStreamsOrderedByEvents runs the input pipeline's pattern: an
// asynchronous copy on a side stream, an event, the main stream waiting for
// it and a kernel reading the copied bytes (normalize_u8_f32).
func TestStreamsOrderedByEvents(t *testing.T) {
	d := newDriver(t)
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	host, err := d.HostAlloc(6)
	if err != nil {
		t.Fatal(err)
	}
	copy(host, []byte{0, 51, 255, 102, 153, 204})
	src := alloc[byte](t, d, 6, 0)
	stats := upload(t, d, []float32{0, 0.5, 1, 0.25})
	y := alloc[float32](t, d, 6, 0)
	copied, _ := d.NewEvent()
	consumed, _ := d.NewEvent()
	for round := range 2 {
		if err := d.WaitEvent(s, consumed); err != nil {
			t.Fatal(err)
		}
		if err := d.CopyHtoDAsync(src, host, s); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := d.RecordEvent(copied, s); err != nil {
			t.Fatal(err)
		}
		if err := d.WaitEvent(nil, copied); err != nil {
			t.Fatal(err)
		}
		launch(t, d, "normalize_u8_f32", dim1(1), dim1(32), 0, y, src, stats, int32(6), int32(2))
		if err := d.RecordEvent(consumed, nil); err != nil {
			t.Fatal(err)
		}
		if err := d.SyncEvent(copied); err != nil {
			t.Fatal(err)
		}
	}
	want := []float32{0, (0.2 - 0.5) / 0.25, 1, (0.4 - 0.5) / 0.25, 0.6, (0.8 - 0.5) / 0.25}
	got := download[float32](t, d, y, 6)
	for i := range want {
		if d := got[i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("normalised %v, want %v", got, want)
		}
	}
}

// TestMissingWaitIsReported leaves out each of the two waits in turn.
func TestMissingWaitIsReported(t *testing.T) {
	d := newDriver(t)
	s, _ := d.NewStream()
	host, _ := d.HostAlloc(4)
	src := alloc[byte](t, d, 4, 0)
	stats := upload(t, d, []float32{0, 1})
	y := alloc[float32](t, d, 4, 0)
	if err := d.CopyHtoDAsync(src, host, s); err != nil {
		t.Fatal(err)
	}
	// The kernel reads src without waiting for the copy.
	msg := launchErr(t, d, sim.ErrMissingWait, "normalize_u8_f32", dim1(1), dim1(32), 0, y, src, stats, int32(4), int32(1))
	mustContain(t, msg, "stream 1")

	ev, _ := d.NewEvent()
	if err := d.RecordEvent(ev, s); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitEvent(nil, ev); err != nil {
		t.Fatal(err)
	}
	launch(t, d, "normalize_u8_f32", dim1(1), dim1(32), 0, y, src, stats, int32(4), int32(1))
	// The next copy overwrites src while the kernel may still read it.
	if err := d.CopyHtoDAsync(src, host, s); !errors.Is(err, sim.ErrMissingWait) {
		t.Fatalf("copy over a buffer a queued kernel reads: %v, want ErrMissingWait", err)
	}
	if err := d.RecordEvent(ev, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitEvent(s, ev); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyHtoDAsync(src, host, s); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	// Events and streams of no use.
	other := newDriver(t)
	oe, _ := other.NewEvent()
	for name, err := range map[string]error{
		"foreign event": d.WaitEvent(nil, oe),
		"timing event":  d.WaitEvent(nil, mustRecord(t, d)),
	} {
		if !errors.Is(err, sim.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
	if got := download[byte](t, d, src, 4); !slices.Equal(got, host) {
		t.Errorf("copied %v, want %v", got, host)
	}
}

func mustRecord(t *testing.T, d *sim.Driver) cuda.Event {
	t.Helper()
	e, err := d.Record()
	if err != nil {
		t.Fatal(err)
	}
	return e
}
