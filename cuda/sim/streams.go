package sim

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// ErrMissingWait: work on one stream touches memory that work queued on
// another stream may still use, and no event orders the two (a race on a
// GPU). The simulator runs every stream in submission order, so the result
// it computes would hide the race; it reports the missing wait instead.
var ErrMissingWait = errors.New("missing event wait between streams")

// streamState orders the simulator's streams. Every operation runs when it
// is submitted, which is one valid schedule of CUDA's stream semantics; to
// find schedules the program fails to exclude, each stream keeps a vector
// clock: clock[s][t] is the last operation of stream t that stream s has
// waited for through events (stream 0 is the main stream). Asynchronous
// copies on a side stream and the pointer arguments of main-stream launches
// are checked against each other.
type streamState struct {
	streams  int                       // side streams created; ids 1..streams
	seq      map[int]uint64            // operations submitted per stream
	clock    map[int]map[int]uint64    // clock[s][t], see above
	lastMain map[cuda.DevicePtr]uint64 // kernel pointer argument → main-stream seq of its last launch
	copies   []asyncCopy               // side-stream copies the main stream has not waited for
}

// asyncCopy is a copy into [lo, hi) queued as operation seq of stream.
type asyncCopy struct {
	lo, hi cuda.DevicePtr
	stream int
	seq    uint64
}

func (st *streamState) init() {
	if st.seq == nil {
		st.seq, st.clock, st.lastMain = map[int]uint64{}, map[int]map[int]uint64{0: {}}, map[cuda.DevicePtr]uint64{}
	}
}

// stream is a side stream of the simulator.
type stream struct {
	d        *Driver
	id       int
	released bool
}

// Release marks the stream released; its work has already run.
func (s *stream) Release() { s.released = true }

// orderEvent is an event of NewEvent: the vector clock of the stream it
// was last recorded on.
type orderEvent struct {
	d        *Driver
	clock    map[int]uint64
	released bool
}

// Release frees the event.
func (e *orderEvent) Release() { e.released = true }

// HostAlloc returns plain Go memory: the simulator's copies are synchronous,
// so nothing needs page-locking. It returns ErrInvalidValue for bytes <= 0.
func (d *Driver) HostAlloc(bytes int) ([]byte, error) {
	if bytes <= 0 {
		return nil, &cuda.Error{Op: "host alloc", Err: fmt.Errorf("%w: %d bytes", ErrInvalidValue, bytes)}
	}
	return make([]byte, bytes), nil
}

// HostFree does nothing: HostAlloc's memory belongs to the Go collector.
func (d *Driver) HostFree([]byte) error { return nil }

// NewStream returns a side stream.
func (d *Driver) NewStream() (cuda.Stream, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("stream create"); err != nil {
		return nil, err
	}
	d.streams.init()
	d.streams.streams++
	id := d.streams.streams
	d.streams.clock[id] = map[int]uint64{}
	return &stream{d: d, id: id}, nil
}

// streamID returns the id of s (0 for nil, the main stream), or an error
// for a stream of another driver or a released one.
func (d *Driver) streamID(op string, s cuda.Stream) (int, error) {
	if s == nil {
		return 0, nil
	}
	x, ok := s.(*stream)
	if !ok || x.d != d || x.released {
		return 0, &cuda.Error{Op: op, Err: fmt.Errorf("%w: not a live stream of this simulator (%T)", ErrInvalidValue, s)}
	}
	return x.id, nil
}

// CopyHtoDAsync copies src to dst now, as if stream s ran it at once. On a
// side stream it returns ErrMissingWait when a main-stream launch queued
// earlier used a pointer inside [dst, dst+len(src)) and s has not waited
// for an event recorded after that launch.
func (d *Driver) CopyHtoDAsync(dst cuda.DevicePtr, src []byte, s cuda.Stream) error {
	d.mu.Lock()
	id, err := d.streamID("copy HtoD async", s)
	if err == nil && id != 0 {
		err = d.streams.copyOn(id, dst, len(src))
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return d.CopyHtoD(dst, src)
}

// copyOn records a copy of n bytes to dst on side stream id, after
// checking it against earlier main-stream launches.
func (st *streamState) copyOn(id int, dst cuda.DevicePtr, n int) error {
	st.init()
	hi := dst + cuda.DevicePtr(n)
	waited := st.clock[id][0]
	for p, seq := range st.lastMain {
		if p >= dst && p < hi && seq > waited {
			return &cuda.Error{Op: "copy HtoD async", Err: fmt.Errorf("%w: stream %d overwrites %#x+%d, which main-stream launch %d still uses (record an event after it on the main stream and WaitEvent on stream %d first)",
				ErrMissingWait, id, uint64(dst), n, seq, id)}
		}
	}
	st.seq[id]++
	st.copies = append(st.copies, asyncCopy{lo: dst, hi: hi, stream: id, seq: st.seq[id]})
	return nil
}

// launchOnMain checks the pointer arguments of a main-stream launch of
// kernel against the side-stream copies the main stream has not waited
// for, and records the launch.
func (st *streamState) launchOnMain(kernel string, args *cuda.Args) error {
	st.init()
	main := st.clock[0]
	live := st.copies[:0]
	for _, c := range st.copies {
		if main[c.stream] < c.seq {
			live = append(live, c)
		}
	}
	st.copies = live
	st.seq[0]++
	for i := range args.Len() {
		p := cuda.DevicePtr(args.Slots()[i])
		if args.Kind(i) != cuda.ArgPtr || p == 0 {
			continue
		}
		for _, c := range st.copies {
			if p >= c.lo && p < c.hi {
				return &cuda.Error{Op: "launch", Kernel: kernel, Err: fmt.Errorf("%w: argument %#x lies in a copy queued on stream %d that the main stream has not waited for (RecordEvent after the copy, WaitEvent on the main stream)",
					ErrMissingWait, uint64(p), c.stream)}
			}
		}
		st.lastMain[p] = st.seq[0]
	}
	return nil
}

// NewEvent returns an ordering event.
func (d *Driver) NewEvent() (cuda.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("event create"); err != nil {
		return nil, err
	}
	return &orderEvent{d: d}, nil
}

// orderEventOf returns e as this driver's live ordering event.
func (d *Driver) orderEventOf(op string, e cuda.Event) (*orderEvent, error) {
	x, ok := e.(*orderEvent)
	if !ok || x.d != d || x.released {
		return nil, &cuda.Error{Op: op, Err: fmt.Errorf("%w: not a live event of this simulator's NewEvent (%T)", ErrInvalidValue, e)}
	}
	return x, nil
}

// RecordEvent captures stream s's clock in e.
func (d *Driver) RecordEvent(e cuda.Event, s cuda.Stream) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev, err := d.orderEventOf("event record", e)
	if err != nil {
		return err
	}
	id, err := d.streamID("event record", s)
	if err != nil {
		return err
	}
	d.streams.init()
	ev.clock = map[int]uint64{id: d.streams.seq[id]}
	for t, v := range d.streams.clock[id] {
		ev.clock[t] = max(ev.clock[t], v)
	}
	return nil
}

// WaitEvent merges e's clock into stream s's.
func (d *Driver) WaitEvent(s cuda.Stream, e cuda.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev, err := d.orderEventOf("event wait", e)
	if err != nil {
		return err
	}
	id, err := d.streamID("event wait", s)
	if err != nil {
		return err
	}
	d.streams.init()
	for t, v := range ev.clock {
		d.streams.clock[id][t] = max(d.streams.clock[id][t], v)
	}
	return nil
}

// SyncEvent returns at once (everything has run) after checking e.
func (d *Driver) SyncEvent(e cuda.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.orderEventOf("event synchronize", e)
	return err
}
