package sendq

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// desc builds a descriptor of the given type and total size (header
// included). Byte 0 of the GUID carries id so tests can tell messages apart.
func desc(t wire.PayloadType, id byte, size int) []byte {
	if size < wire.HeaderLen {
		panic("test descriptor shorter than a header")
	}
	h := wire.Header{Type: t, TTL: 1, Length: uint32(size - wire.HeaderLen)}
	h.GUID[0] = id
	b := h.Append(make([]byte, 0, size))
	return append(b, make([]byte, size-wire.HeaderLen)...)
}

// split cuts a batch back into descriptors using the length in each header,
// and returns their ids in order.
func split(t *testing.T, batch []byte) []byte {
	t.Helper()
	var ids []byte
	for len(batch) > 0 {
		h, err := wire.ParseHeader(batch)
		require.NoError(t, err)
		n := wire.HeaderLen + int(h.Length)
		require.LessOrEqual(t, n, len(batch), "batch ends mid-descriptor")
		ids = append(ids, h.GUID[0])
		batch = batch[n:]
	}
	return ids
}

// drain dequeues everything and returns the ids in send order.
func drain(t *testing.T, q *Queue) []byte {
	t.Helper()
	var ids []byte
	for {
		batch, left := q.DequeueBatch(nil)
		ids = append(ids, split(t, batch)...)
		if left == 0 {
			return ids
		}
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestClassOf(t *testing.T) {
	cases := []struct {
		t    wire.PayloadType
		want Class
	}{
		{wire.TypePing, ClassPing},
		{wire.TypeQuery, ClassQuery},
		{wire.TypePong, ClassPong},
		{wire.TypeQueryHit, ClassQueryHit},
		{wire.TypePush, ClassPush},
		{wire.TypeBye, ClassControl},
		{wire.TypeQRP, ClassControl},
		{wire.TypeVendor, ClassControl},
		{wire.TypeStdVendor, ClassControl},
		{wire.TypeHSEP, ClassControl},
		{wire.PayloadType(0x77), ClassControl},
	}
	for _, tc := range cases {
		t.Run(tc.t.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, ClassOf(tc.t))
		})
	}
}

func TestNamesForMetrics(t *testing.T) {
	assert.Equal(t, "ping", ClassPing.String())
	assert.Equal(t, "control", ClassControl.String())
	assert.Equal(t, "class?", Class(NumClasses).String())
	assert.Equal(t, "flow_control", DropFlowControl.String())
	assert.Equal(t, "too_large", DropTooLarge.String())
	assert.Equal(t, "reason?", DropReason(NumDropReasons).String())
}

func TestDequeueControlFirstThenByPriorityFIFOWithinClass(t *testing.T) {
	q := New(Config{})
	in := []struct {
		t  wire.PayloadType
		id byte
	}{
		{wire.TypePing, 1}, {wire.TypeQuery, 2}, {wire.TypePong, 3}, {wire.TypeQueryHit, 4},
		{wire.TypePush, 5}, {wire.TypeVendor, 6}, {wire.TypePing, 7}, {wire.TypeQRP, 8},
		{wire.TypeQueryHit, 9}, {wire.TypeQuery, 10}, {wire.TypePong, 11}, {wire.TypePush, 12},
	}
	for _, m := range in {
		require.NoError(t, q.Enqueue(desc(m.t, m.id, 40), false))
	}
	assert.Equal(t, []byte{6, 8, 5, 12, 4, 9, 3, 11, 2, 10, 1, 7}, drain(t, q))
}

func TestDequeueBatchStopsAtCapacityButAlwaysTakesOne(t *testing.T) {
	q := New(Config{})
	for id := byte(1); id <= 3; id++ {
		require.NoError(t, q.Enqueue(desc(wire.TypePong, id, 100), false))
	}
	batch, left := q.DequeueBatch(make([]byte, 0, 10))
	assert.Equal(t, []byte{1}, split(t, batch), "first message goes out even though it exceeds cap")
	assert.Equal(t, 2, left)

	batch, left = q.DequeueBatch(make([]byte, 0, 250))
	assert.Equal(t, []byte{2, 3}, split(t, batch))
	assert.Zero(t, left)
}

func TestEnqueueCopiesTheMessage(t *testing.T) {
	q := New(Config{})
	m := desc(wire.TypeQueryHit, 1, 60)
	want := append([]byte(nil), m...)
	require.NoError(t, q.Enqueue(m, false))
	for i := range m {
		m[i] = 0xEE
	}
	batch, _ := q.DequeueBatch(nil)
	assert.Equal(t, want, batch)
}

// step is one Enqueue in a pressure scenario.
type step struct {
	t    wire.PayloadType
	id   byte
	size int
	own  bool
	err  error
}

func TestDropOrderUnderPressure(t *testing.T) {
	const full = 1000 // MaxBytes; ten 100-byte messages fill it
	// fill queues two of each class while below 50%, so flow control does
	// not refuse the Pings and Queries: 500 B is exactly half (not yet flow
	// control), the 6th message enters it.
	fill := []step{
		{t: wire.TypePing, id: 1, size: 100}, {t: wire.TypePing, id: 2, size: 100},
		{t: wire.TypeQuery, id: 3, size: 100}, {t: wire.TypeQuery, id: 4, size: 100},
		{t: wire.TypePong, id: 5, size: 100}, {t: wire.TypePong, id: 6, size: 100},
		{t: wire.TypeQueryHit, id: 7, size: 100}, {t: wire.TypeQueryHit, id: 8, size: 100},
		{t: wire.TypePush, id: 9, size: 100}, {t: wire.TypePush, id: 10, size: 100},
	}
	cases := []struct {
		name        string
		then        []step
		wantEvicted []byte // ids in eviction order
		wantSent    []byte // ids in send order
		wantDrops   map[Class][NumDropReasons]uint64
	}{
		{
			name: "forwarded ping and query refused in flow control",
			then: []step{
				{t: wire.TypePing, id: 20, size: 30, err: ErrFlowControl},
				{t: wire.TypeQuery, id: 21, size: 30, err: ErrFlowControl},
			},
			wantSent: []byte{9, 10, 7, 8, 5, 6, 3, 4, 1, 2},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPing:  {DropFlowControl: 1},
				ClassQuery: {DropFlowControl: 1},
			},
		},
		{
			name: "own query passes flow control but evicts only pings",
			then: []step{
				{t: wire.TypeQuery, id: 20, size: 100, own: true},
				{t: wire.TypeQuery, id: 21, size: 100, own: true},
				{t: wire.TypeQuery, id: 22, size: 100, own: true, err: ErrFull},
				{t: wire.TypePing, id: 23, size: 100, own: true, err: ErrFull},
			},
			wantEvicted: []byte{1, 2},
			wantSent:    []byte{9, 10, 7, 8, 5, 6, 3, 4, 20, 21},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPing:  {DropEvicted: 2, DropFull: 1},
				ClassQuery: {DropFull: 1},
			},
		},
		{
			name: "query hits evict pings then queries then pongs, oldest first",
			then: []step{
				{t: wire.TypeQueryHit, id: 20, size: 100},
				{t: wire.TypeQueryHit, id: 21, size: 100},
				{t: wire.TypeQueryHit, id: 22, size: 100},
				{t: wire.TypeQueryHit, id: 23, size: 100},
				{t: wire.TypeQueryHit, id: 24, size: 100},
				{t: wire.TypeQueryHit, id: 25, size: 100},
				{t: wire.TypeQueryHit, id: 26, size: 100, err: ErrFull},
			},
			wantEvicted: []byte{1, 2, 3, 4, 5, 6},
			wantSent:    []byte{9, 10, 7, 8, 20, 21, 22, 23, 24, 25},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPing:     {DropEvicted: 2},
				ClassQuery:    {DropEvicted: 2},
				ClassPong:     {DropEvicted: 2},
				ClassQueryHit: {DropFull: 1},
			},
		},
		{
			name: "one large push evicts several small ones across classes",
			then: []step{
				{t: wire.TypePush, id: 20, size: 350},
			},
			wantEvicted: []byte{1, 2, 3, 4},
			wantSent:    []byte{9, 10, 20, 7, 8, 5, 6},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPing:  {DropEvicted: 2},
				ClassQuery: {DropEvicted: 2},
			},
		},
		{
			name: "nothing evicted when evicting all lower classes would not make room",
			then: []step{
				{t: wire.TypePong, id: 20, size: 500, err: ErrFull},
			},
			wantSent: []byte{9, 10, 7, 8, 5, 6, 3, 4, 1, 2},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPong: {DropFull: 1},
			},
		},
		{
			name: "control messages evict everything below them, push included",
			then: []step{
				{t: wire.TypeQRP, id: 20, size: 800},
				{t: wire.TypeVendor, id: 21, size: 100},
				{t: wire.TypeVendor, id: 22, size: 200, err: ErrFull},
			},
			wantEvicted: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9},
			wantSent:    []byte{20, 21, 10},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPing:     {DropEvicted: 2},
				ClassQuery:    {DropEvicted: 2},
				ClassPong:     {DropEvicted: 2},
				ClassQueryHit: {DropEvicted: 2},
				ClassPush:     {DropEvicted: 1},
				ClassControl:  {DropFull: 1},
			},
		},
		{
			name: "larger than the whole queue",
			then: []step{
				{t: wire.TypePush, id: 20, size: full + 1, err: ErrTooLarge},
			},
			wantSent: []byte{9, 10, 7, 8, 5, 6, 3, 4, 1, 2},
			wantDrops: map[Class][NumDropReasons]uint64{
				ClassPush: {DropTooLarge: 1},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := New(Config{MaxBytes: full})
			for _, s := range fill {
				require.NoError(t, q.Enqueue(desc(s.t, s.id, s.size), s.own), "fill id %d", s.id)
			}
			require.True(t, q.InFlowControl())
			require.Equal(t, full, q.Stats().PendingBytes)

			queued := map[byte]bool{}
			for _, s := range fill {
				queued[s.id] = true
			}
			var evicted []byte
			for _, s := range tc.then {
				before := q.Stats()
				err := q.Enqueue(desc(s.t, s.id, s.size), s.own)
				if s.err != nil {
					assert.ErrorIs(t, err, s.err, "id %d", s.id)
					assert.Equal(t, before, q.Stats().withDropsOf(before), "refused id %d changed the queue", s.id)
					continue
				}
				require.NoError(t, err, "id %d", s.id)
				queued[s.id] = true
				// Name the evicted ids from the per-class counters, taking
				// the oldest of the class; the final send order confirms
				// which ids really went.
				for c := range NumClasses {
					n := q.Stats().Class[c].Dropped[DropEvicted] - before.Class[c].Dropped[DropEvicted]
					for range n {
						id := oldestQueued(fill, tc.then, queued, Class(c))
						evicted = append(evicted, id)
						delete(queued, id)
					}
				}
				assert.LessOrEqual(t, q.Stats().PendingBytes, full)
			}
			assert.Equal(t, tc.wantEvicted, evicted, "eviction order")
			assert.Equal(t, tc.wantSent, drain(t, q), "what is left, in send order")
			st := q.Stats()
			for c := range NumClasses {
				assert.Equal(t, tc.wantDrops[Class(c)], st.Class[c].Dropped, "drops of %v", Class(c))
			}
		})
	}
}

// withDropsOf returns s with the drop counters of before, so a refusal can
// be checked for leaving everything else untouched.
func (s Stats) withDropsOf(before Stats) Stats {
	for c := range s.Class {
		s.Class[c].Dropped = before.Class[c].Dropped
	}
	s.Malformed = before.Malformed
	return s
}

// oldestQueued returns the first id, in enqueue order, of class c that is
// still queued: the one the eviction policy must take.
func oldestQueued(fill, then []step, queued map[byte]bool, c Class) byte {
	for _, s := range append(append([]step(nil), fill...), then...) {
		if ClassOf(s.t) == c && queued[s.id] {
			return s.id
		}
	}
	panic("no queued message of the evicted class")
}

func TestMessageCountBoundEvictsLikeBytes(t *testing.T) {
	q := New(Config{MaxMessages: 3})
	require.NoError(t, q.Enqueue(desc(wire.TypePing, 1, 23), false))
	require.NoError(t, q.Enqueue(desc(wire.TypePong, 2, 23), false))
	require.NoError(t, q.Enqueue(desc(wire.TypePong, 3, 23), false))
	assert.ErrorIs(t, q.Enqueue(desc(wire.TypePing, 4, 23), false), ErrFull)
	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 5, 23), false))
	assert.ErrorIs(t, q.Enqueue(desc(wire.TypePong, 6, 23), false), ErrFull)
	st := q.Stats()
	assert.Equal(t, uint64(1), st.Class[ClassPing].Dropped[DropEvicted])
	assert.Equal(t, uint64(1), st.Class[ClassPing].Dropped[DropFull])
	assert.Equal(t, uint64(1), st.Class[ClassPong].Dropped[DropFull])
	assert.Equal(t, []byte{5, 2, 3}, drain(t, q))
}

func TestFlowControlThresholds(t *testing.T) {
	// MaxBytes 1000: enter above 500, leave below 250. All messages are
	// control (never refused) and go out FIFO, so dequeue sizes are known.
	cases := []struct {
		name      string
		enqueue   []int // message sizes
		dequeue   []int // sizes of the messages then dequeued one by one
		wantFlow  bool
		wantEntry uint64
	}{
		{name: "exactly half does not enter", enqueue: []int{500}, wantFlow: false},
		{name: "one byte over half enters", enqueue: []int{501}, wantFlow: true, wantEntry: 1},
		{name: "half in small steps enters on the step past it", enqueue: []int{250, 250, 23}, wantFlow: true, wantEntry: 1},
		{name: "falling back to half stays in", enqueue: []int{251, 250, 250}, dequeue: []int{251}, wantFlow: true, wantEntry: 1},
		{name: "exactly a quarter stays in", enqueue: []int{251, 250}, dequeue: []int{251}, wantFlow: true, wantEntry: 1},
		{name: "one byte under a quarter leaves", enqueue: []int{252, 249}, dequeue: []int{252}, wantFlow: false, wantEntry: 1},
		{name: "refilling after leaving enters again", enqueue: []int{252, 249, 300}, dequeue: []int{252, 249, 300}, wantFlow: false, wantEntry: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := New(Config{MaxBytes: 1000})
			for i, n := range tc.enqueue {
				require.NoError(t, q.Enqueue(desc(wire.TypeVendor, byte(i), n), false))
			}
			for _, n := range tc.dequeue {
				batch, _ := q.DequeueBatch(make([]byte, 0, n))
				require.Len(t, batch, n)
			}
			assert.Equal(t, tc.wantFlow, q.InFlowControl())
			st := q.Stats()
			assert.Equal(t, tc.wantFlow, st.FlowControl)
			assert.Equal(t, tc.wantEntry, st.FlowControlEntries)
		})
	}

	t.Run("re-entry is counted", func(t *testing.T) {
		q := New(Config{MaxBytes: 1000})
		for round := range 3 {
			require.NoError(t, q.Enqueue(desc(wire.TypeVendor, byte(round), 600), false))
			require.True(t, q.InFlowControl())
			drain(t, q)
			require.False(t, q.InFlowControl())
		}
		assert.Equal(t, uint64(3), q.Stats().FlowControlEntries)
	})
}

func TestByeIsNeverDropped(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		fill    []step
		byeSize int
	}{
		{
			name: "full queue in flow control",
			cfg:  Config{MaxBytes: 300},
			fill: []step{
				{t: wire.TypePush, id: 1, size: 150}, {t: wire.TypeQueryHit, id: 2, size: 150},
			},
			byeSize: 44,
		},
		{
			name:    "message count at its bound",
			cfg:     Config{MaxMessages: 2},
			fill:    []step{{t: wire.TypeVendor, id: 1, size: 30}, {t: wire.TypeQRP, id: 2, size: 30}},
			byeSize: 44,
		},
		{
			name:    "bye larger than the whole queue",
			cfg:     Config{MaxBytes: 100},
			fill:    []step{{t: wire.TypePong, id: 1, size: 60}},
			byeSize: 150,
		},
		{name: "empty queue", byeSize: 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := New(tc.cfg)
			for _, s := range tc.fill {
				require.NoError(t, q.Enqueue(desc(s.t, s.id, s.size), s.own))
			}
			bye := desc(wire.TypeBye, 99, tc.byeSize)
			binary.LittleEndian.PutUint16(bye[wire.HeaderLen:], 502)
			require.NoError(t, q.Enqueue(bye, false))

			// Nothing may follow a Bye, not even another one.
			assert.ErrorIs(t, q.Enqueue(desc(wire.TypePush, 50, 30), false), ErrClosed)
			assert.ErrorIs(t, q.Enqueue(bye, false), ErrClosed)

			st := q.Stats()
			var cleared uint64
			for c := range NumClasses {
				cleared += st.Class[c].Dropped[DropClosed]
			}
			assert.Equal(t, uint64(len(tc.fill))+2, cleared, "queued messages discarded, later ones refused")
			assert.Equal(t, 1, st.PendingMessages)

			batch, left := q.DequeueBatch(nil)
			assert.Equal(t, bye, batch)
			assert.Zero(t, left)
			assert.ErrorIs(t, q.Wait(context.Background()), ErrClosed)
			assert.Equal(t, uint64(1), q.Stats().Class[ClassControl].Sent)
		})
	}
}

func TestStuckAfterStayingInFlowControl(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	q := New(Config{MaxBytes: 1000, StuckAfter: 10 * time.Second, Now: clk.Now})

	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 1, 400), false))
	clk.Advance(time.Hour)
	assert.False(t, q.Stuck(), "below the high mark is never stuck")

	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 2, 400), false)) // 800: enters
	clk.Advance(10*time.Second - time.Nanosecond)
	assert.False(t, q.Stuck(), "just short of StuckAfter")
	clk.Advance(time.Nanosecond)
	assert.True(t, q.Stuck(), "exactly StuckAfter")

	// Progress that keeps it above the low mark does not reset the clock.
	_, _ = q.DequeueBatch(make([]byte, 0, 400)) // 400 left: still in
	assert.True(t, q.Stuck(), "between the marks the queue is still in flow control")

	// Falling below 25% ends flow control and the stuck condition with it.
	_, _ = q.DequeueBatch(nil)
	assert.False(t, q.Stuck())

	// Re-entering starts a new period.
	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 3, 600), false))
	clk.Advance(5 * time.Second)
	assert.False(t, q.Stuck())
	clk.Advance(5 * time.Second)
	assert.True(t, q.Stuck())

	// The connection answers with Bye 502, which clears the queue.
	require.NoError(t, q.Enqueue(desc(wire.TypeBye, 4, 25), true))
	assert.False(t, q.Stuck())
}

func TestWait(t *testing.T) {
	t.Run("wakes on the first message", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := New(Config{})
			done := make(chan error)
			go func() { done <- q.Wait(context.Background()) }()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("Wait returned on an empty queue")
			default:
			}
			require.NoError(t, q.Enqueue(desc(wire.TypePong, 1, 30), false))
			assert.NoError(t, <-done)
		})
	})
	t.Run("returns at once while messages are queued", func(t *testing.T) {
		q := New(Config{})
		require.NoError(t, q.Enqueue(desc(wire.TypePong, 1, 30), false))
		assert.NoError(t, q.Wait(context.Background()))
		assert.NoError(t, q.Wait(context.Background()))
	})
	t.Run("a stale wakeup does not end the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := New(Config{})
			require.NoError(t, q.Enqueue(desc(wire.TypePong, 1, 30), false)) // leaves a token
			drain(t, q)
			done := make(chan error)
			go func() { done <- q.Wait(context.Background()) }()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("Wait returned on an empty queue")
			default:
			}
			require.NoError(t, q.Enqueue(desc(wire.TypePong, 2, 30), false))
			assert.NoError(t, <-done)
		})
	})
	t.Run("context cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := New(Config{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- q.Wait(ctx) }()
			synctest.Wait()
			cancel()
			assert.ErrorIs(t, <-done, context.Canceled)
		})
	})
	t.Run("close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := New(Config{})
			done := make(chan error)
			go func() { done <- q.Wait(context.Background()) }()
			synctest.Wait()
			q.Close()
			assert.ErrorIs(t, <-done, ErrClosed)
		})
	})
}

func TestCloseDiscardsAndRefuses(t *testing.T) {
	q := New(Config{})
	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 1, 100), false))
	require.NoError(t, q.Enqueue(desc(wire.TypePing, 2, 23), false))
	q.Close()
	assert.ErrorIs(t, q.Enqueue(desc(wire.TypeBye, 3, 25), false), ErrClosed)
	st := q.Stats()
	assert.Zero(t, st.PendingBytes)
	assert.Equal(t, uint64(1), st.Class[ClassQueryHit].Dropped[DropClosed])
	assert.Equal(t, uint64(1), st.Class[ClassPing].Dropped[DropClosed])
	assert.Equal(t, uint64(1), st.Class[ClassControl].Dropped[DropClosed])
	batch, left := q.DequeueBatch(nil)
	assert.Empty(t, batch)
	assert.Zero(t, left)
}

func TestMalformedIsRefusedAndCounted(t *testing.T) {
	q := New(Config{})
	for _, b := range [][]byte{nil, {}, make([]byte, wire.HeaderLen-1)} {
		assert.ErrorIs(t, q.Enqueue(b, false), ErrMalformed)
	}
	st := q.Stats()
	assert.Equal(t, uint64(3), st.Malformed)
	assert.Zero(t, st.PendingMessages)
}

func TestConcurrentProducersOneConsumer(t *testing.T) {
	const (
		producers = 8
		perProd   = 2000
	)
	// Small enough that flow control, eviction and refusals all happen.
	q := New(Config{MaxBytes: 8 << 10})
	types := []wire.PayloadType{wire.TypePing, wire.TypeQuery, wire.TypePong, wire.TypeQueryHit, wire.TypePush, wire.TypeVendor}

	var wg sync.WaitGroup
	var refused [producers]uint64
	for p := range producers {
		wg.Go(func() {
			for i := range perProd {
				m := desc(types[i%len(types)], byte(p), 23+i%200)
				binary.LittleEndian.PutUint32(m[1:], uint32(i)) // sequence in the GUID
				if q.Enqueue(m, i%7 == 0) != nil {
					refused[p]++
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { wg.Wait(); cancel() }()

	// The writer: Wait returns nil while anything is queued, so after the
	// producers finish it drains the queue before seeing the cancel.
	var sent uint64
	lastSeq := map[[2]byte]uint32{} // (producer, class) -> last sequence sent
	buf := make([]byte, 0, 4096)
	for q.Wait(ctx) == nil {
		var batch []byte
		batch, _ = q.DequeueBatch(buf[:0])
		for len(batch) > 0 {
			h, err := wire.ParseHeader(batch)
			require.NoError(t, err)
			seq := binary.LittleEndian.Uint32(h.GUID[1:])
			key := [2]byte{h.GUID[0], byte(ClassOf(h.Type))}
			if last, ok := lastSeq[key]; ok {
				require.Greater(t, seq, last, "FIFO within a class broken for producer %d", h.GUID[0])
			}
			lastSeq[key] = seq
			sent++
			batch = batch[wire.HeaderLen+int(h.Length):]
		}
	}

	st := q.Stats()
	var enq, sentCounted, evicted, refusedCounted uint64
	for c := range NumClasses {
		cs := st.Class[c]
		enq += cs.Enqueued
		sentCounted += cs.Sent
		evicted += cs.Dropped[DropEvicted]
		refusedCounted += cs.TotalDropped() - cs.Dropped[DropEvicted]
	}
	var refusedSeen uint64
	for _, r := range refused {
		refusedSeen += r
	}
	assert.Equal(t, sent, sentCounted)
	assert.Equal(t, refusedSeen, refusedCounted)
	assert.Equal(t, uint64(producers*perProd), enq+refusedCounted, "every message is either queued or refused")
	assert.Equal(t, enq, sent+evicted, "every queued message is either sent or evicted")
	assert.Zero(t, st.PendingBytes)
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	q := New(Config{MaxBytes: 2000})
	msgs := [][]byte{
		desc(wire.TypeQueryHit, 1, 700),
		desc(wire.TypePing, 2, 23),
		desc(wire.TypeQuery, 3, 60),
		desc(wire.TypePong, 4, 64),
		desc(wire.TypePush, 5, 49),
		desc(wire.TypeVendor, 6, 100),   // 996 B queued: not yet in flow control
		desc(wire.TypeQueryHit, 7, 900), // 1896 B: flow control
		desc(wire.TypePing, 8, 23),      // refused in flow control
		desc(wire.TypeQueryHit, 9, 200), // evicts the ping, the query and the pong
	}
	buf := make([]byte, 0, 4096)
	cycle := func() {
		for _, m := range msgs {
			_ = q.Enqueue(m, false)
		}
		for {
			var left int
			buf, left = q.DequeueBatch(buf[:0])
			if left == 0 {
				break
			}
		}
		_ = q.InFlowControl()
		_ = q.Stuck()
		_ = q.Stats()
	}
	for range 10 {
		cycle() // grow the rings
	}
	st := q.Stats()
	require.NotZero(t, st.Class[ClassPing].Dropped[DropEvicted], "the cycle must evict")
	require.NotZero(t, st.Class[ClassPing].Dropped[DropFlowControl], "the cycle must refuse in flow control")
	require.Zero(t, testing.AllocsPerRun(100, cycle))
}

func BenchmarkEnqueueDequeue(b *testing.B) {
	q := New(Config{})
	m := desc(wire.TypeQueryHit, 1, 200)
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for i := 0; b.Loop(); i++ {
		if err := q.Enqueue(m, false); err != nil {
			b.Fatal(err)
		}
		if i%32 == 31 { // the writer takes a batch now and then
			buf, _ = q.DequeueBatch(buf[:0])
		}
	}
}

// TestCongestedAndAwaitRoom: a queue over its wait mark whose writer is
// taking from it is congested, and a link waiting in AwaitRoom gets its
// turn once a batch takes the queue below the mark, with the batch's bytes
// as its credit; a queue whose writer has been in one write for
// DrainWindow is not waited for (but one whose writer only waits between
// writes is, the link keeping its place in line), and a Close, an emptied
// queue and the end of ctx end every wait.
func TestCongestedAndAwaitRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		q := New(Config{MaxBytes: 4000, WaitMark: 1000, DrainWindow: 50 * time.Millisecond})
		w := NewWaiter()
		// await starts AwaitRoom and checks that it blocks.
		await := func(w *Waiter) <-chan [2]int {
			got := make(chan [2]int, 1)
			go func() {
				credit, waited, err := q.AwaitRoom(ctx, w)
				assert.NoError(t, err)
				assert.True(t, waited)
				got <- [2]int{credit}
			}()
			synctest.Wait()
			require.Empty(t, got, "AwaitRoom returned on a congested queue")
			return got
		}
		_, waited, err := q.AwaitRoom(ctx, w)
		require.NoError(t, err)
		assert.False(t, waited, "an empty queue has room")
		for i := range 9 {
			require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, byte(i), 100), false))
		}
		assert.False(t, q.Congested(), "900 bytes of 4000: below the wait mark")
		require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 9, 100), false))
		assert.True(t, q.Congested(), "1000 bytes: at the wait mark, and draining")

		got := await(w)
		buf, _ := q.DequeueBatch(make([]byte, 0, 200))
		require.Len(t, buf, 200)
		assert.Equal(t, 200, (<-got)[0], "800 bytes: below the mark, the turn's credit is the batch")
		assert.False(t, q.Congested())

		require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 10, 300), false)) // 1100 bytes
		q.Written()
		got = await(w)
		time.Sleep(time.Second)
		require.Empty(t, got, "the writer wrote its batch: however long it then waits for a CPU, it is not stalled, and the link keeps its place")
		assert.True(t, q.Congested())
		q.DequeueBatch(make([]byte, 0, 100)) // 1000 bytes left: over the mark, no turn; a write begins
		time.Sleep(49 * time.Millisecond)
		assert.True(t, q.Congested(), "a write in progress for less than DrainWindow")
		time.Sleep(time.Millisecond)
		assert.False(t, q.Congested(), "a write in progress for DrainWindow: stalled, not waited for")
		time.Sleep(50 * time.Millisecond)
		assert.Equal(t, 0, (<-got)[0], "the writer stalled: the link stops waiting, without credit")
		_, waited, _ = q.AwaitRoom(ctx, w)
		assert.False(t, waited)

		q.Written() // the write ended: the writer is back
		other := NewWaiter()
		got, got2 := await(w), await(other)
		q.DequeueBatch(make([]byte, 0, 4000))
		assert.Equal(t, 500, (<-got)[0], "the emptied queue shares its wait mark between the two in line")
		assert.Equal(t, 500, (<-got2)[0])

		require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 11, 1000), false))
		got = await(w)
		wctx, cancel := context.WithCancel(ctx)
		ended := make(chan error, 1)
		go func() { _, _, err := q.AwaitRoom(wctx, other); ended <- err }()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-ended, context.Canceled)
		q.Close()
		assert.Equal(t, 0, (<-got)[0], "Close ends the wait: nobody waits on a closed queue")
		_, waited, _ = q.AwaitRoom(ctx, w)
		assert.False(t, waited)
	})
}

// TestTurnsShareTheRoom: with several links in line, a turn's credit is
// its share of the room below the wait mark, not the whole batch: turns
// handed out before their links run cannot add up to more than the room.
func TestTurnsShareTheRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxBytes: 4000, WaitMark: 1000})
		for i := range 11 {
			require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, byte(i), 100), false))
		}
		credits := make(chan int, 4)
		for range 4 {
			go func() {
				credit, waited, err := q.AwaitRoom(t.Context(), NewWaiter())
				assert.NoError(t, err)
				assert.True(t, waited)
				credits <- credit
			}()
			synctest.Wait()
		}
		q.DequeueBatch(make([]byte, 0, 400)) // 700 left: 300 of room, 4 in line
		assert.Equal(t, 75, <-credits)
		q.DequeueBatch(make([]byte, 0, 100)) // 600 left: 400 of room, 3 in line
		assert.Equal(t, 100, <-credits)
		q.DequeueBatch(make([]byte, 0, 600)) // emptied: 1000 of room, 2 in line
		assert.Equal(t, 500, <-credits)
		assert.Equal(t, 500, <-credits)
	})
}

// TestRoomGoesInTurns: two links feed one congested queue, A with ten
// times as much to send as B. Whatever order the links that are woken run
// in (here the worst: the one with more to send first, as the Go scheduler
// runs the goroutine readied last first), each gets half of what the
// writer sends while both have something to send. A budget that woke every
// waiting link at each room would let A take the room and B one
// descriptor per turn.
func TestRoomGoesInTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxBytes: 4000, WaitMark: 1000})
		type link struct {
			id         byte
			n          int
			woken, run chan struct{}
		}
		// feed is a link's reader as the servent runs it: a link waits
		// while the queue is congested and its credit is spent.
		feed := func(l *link) {
			w, credit := NewWaiter(), 0
			for range l.n {
				if credit <= 0 && q.Congested() {
					c, waited, err := q.AwaitRoom(t.Context(), w)
					if err != nil {
						return
					}
					if waited {
						credit = c
						l.woken <- struct{}{}
						<-l.run
					}
				}
				if err := q.Enqueue(desc(wire.TypeQueryHit, l.id, 100), false); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("link %c: %v", l.id, err)
					}
					return
				}
				credit -= 100
			}
		}
		a := &link{id: 'A', n: 1000, woken: make(chan struct{}), run: make(chan struct{})}
		b := &link{id: 'B', n: 100, woken: make(chan struct{}), run: make(chan struct{})}
		for _, l := range []*link{a, b} {
			go feed(l)
			synctest.Wait()
		}
		var got [256]int
		for range 40 {
			buf, _ := q.DequeueBatch(make([]byte, 0, 300))
			for _, id := range split(t, buf) {
				got[id]++
			}
			synctest.Wait()
			for _, l := range []*link{a, b} {
				select {
				case <-l.woken:
					l.run <- struct{}{}
					synctest.Wait()
				default:
				}
			}
		}
		total := float64(got['A'] + got['B'])
		require.Equal(t, 120.0, total, "40 batches of 3")
		assert.InDelta(t, 0.5, float64(got['A'])/total, 0.1, "A's share (A %d, B %d)", got['A'], got['B'])
		q.Close()
		synctest.Wait()
		for _, l := range []*link{a, b} {
			select {
			case <-l.woken:
				l.run <- struct{}{}
			default:
			}
		}
	})
}

// TestInFlowControlTakesNoLock reads the flow-control state while another
// goroutine holds the queue's lock.
func TestInFlowControlTakesNoLock(t *testing.T) {
	q := New(Config{MaxBytes: 1000})
	require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 1, 600), false))
	q.mu.Lock()
	defer q.mu.Unlock()
	assert.True(t, q.InFlowControl())
	assert.True(t, q.Congested())
}

// TestWaitMark: links wait once a queue holds an eighth of MaxBytes by
// default, not the low mark's quarter, so that a flood keeps little
// queued; a WaitMark set over the low mark is lowered to it, as the links
// must be told to wait before flow control starts dropping.
func TestWaitMark(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		waitMark int
	}{
		{"default", Config{MaxBytes: 4000}, 500},
		{"set", Config{MaxBytes: 4000, WaitMark: 600}, 600},
		{"over the low mark", Config{MaxBytes: 4000, WaitMark: 3000}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := New(tc.cfg)
			require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 1, tc.waitMark-wire.HeaderLen-1), false))
			require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 2, wire.HeaderLen), false))
			assert.False(t, q.Congested(), "one byte under the wait mark")
			require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, 3, wire.HeaderLen), false))
			assert.True(t, q.Congested(), "over the wait mark")
		})
	}
}

// TestBatchHalfTheWaitMark: with a Batch the wait mark is two of them,
// and a queue too small to hold that within its low mark takes batches of
// half its mark, so that a batch from a congested queue always leaves some
// queued and its room goes to the links in line in turns.
func TestBatchHalfTheWaitMark(t *testing.T) {
	for _, tc := range []struct {
		name            string
		cfg             Config
		waitMark, batch int
	}{
		{"room for two", Config{MaxBytes: 16000, Batch: 1000}, 2000, 1000},
		{"small queue", Config{MaxBytes: 4000, Batch: 1000}, 1000, 500},
		{"mark set", Config{MaxBytes: 16000, WaitMark: 1200, Batch: 1000}, 1200, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := New(tc.cfg)
			assert.Equal(t, tc.waitMark, q.waitMark)
			for i := range 10 {
				require.NoError(t, q.Enqueue(desc(wire.TypeQueryHit, byte(i), 100), false))
			}
			batch, left := q.DequeueBatch(make([]byte, 0, 1<<20))
			assert.Len(t, batch, tc.batch, "one batch, whatever cap(dst)")
			assert.Equal(t, 10-tc.batch/100, left)
		})
	}
}
