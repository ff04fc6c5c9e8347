package servent

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govent/govent/router"
	"github.com/govent/govent/wire"
)

// BenchmarkOverload measures the goodput of a servent on one core
// (GOMAXPROCS 1; its 8 loopback TCP peers share that core) relaying
// Queries (TTL 2, each to the 7 other peers), in two phases of one run:
//
//   - paced: the peers send at a total rate that grows by half each step
//     until the servent drops a Query or cannot keep up; the highest
//     forwarded rate of a step without a drop is peak-lossless-fwd/s;
//   - unthrottled: every peer sends as fast as it can for a second;
//     unthrottled-fwd/s is what the peers receive meanwhile, and
//     min-link-share the fewest Queries forwarded from one peer over the
//     mean: a link the others starve shows as a share near 0.
//
// goodput-ratio is unthrottled over peak; the input budget is what keeps it
// near 1 (the servent reads a link only as fast as its Queries can be
// sent, so TCP pushes back instead of the servent reading and dropping).
// b.N is ignored: one op is the whole measurement.
func BenchmarkOverload(b *testing.B) {
	const peers = 8
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var (
		received atomic.Uint64        // Query copies the peers read
		fromLink [peers]atomic.Uint64 // of those, by the peer that sent them
	)
	s, conns := startRelay(b, peers, func(_ int, m *wire.Message) {
		received.Add(1)
		if i := int(m.Header.GUID[0] - 'A'); i >= 0 && i < peers {
			fromLink[i].Add(1)
		}
	})
	senders := make([]*overloadSender, peers)
	for i := range senders {
		senders[i] = newOverloadSender(b, byte('A'+i))
	}
	drops := func() uint64 { st := s.Stats(); return st.QueueDrops + st.RouteDrops }
	// settle waits until every copy the servent queued has been read.
	settle := func() bool {
		deadline := time.Now().Add(2 * time.Second)
		for received.Load() < s.Stats().Forwarded {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return true
	}

	for b.Loop() {
		var peak float64
		for rate := 20_000.0; rate < 5e6; rate *= 1.5 {
			settle()
			d0, r0 := drops(), received.Load()
			start := time.Now()
			var wg sync.WaitGroup
			var sent atomic.Uint64
			for i, nc := range conns {
				wg.Go(func() { sent.Add(senders[i].paced(nc, rate/peers, 300*time.Millisecond)) })
			}
			wg.Wait()
			caughtUp := settle()
			elapsed := time.Since(start)
			got := received.Load() - r0
			lossless := drops() == d0 && caughtUp && got == (peers-1)*sent.Load()
			// A step the peers could not send at its rate is the limit too.
			if !lossless || float64(sent.Load()) < 0.9*rate*0.3 {
				break
			}
			peak = max(peak, float64(got)/elapsed.Seconds())
		}

		settle()
		var before [peers]uint64
		for i := range fromLink {
			before[i] = fromLink[i].Load()
		}
		r0, d0, q0, f0 := received.Load(), drops(), queryCount(s), s.Stats().Router.Dropped[router.DropFlowControl]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, nc := range conns {
			wg.Go(func() { senders[i].flood(nc, stop) })
		}
		start, cpu0 := time.Now(), cpuTime(b)
		time.Sleep(time.Second)
		got := received.Load() - r0
		elapsed := time.Since(start)
		read, dropped := queryCount(s)-q0, drops()-d0
		cpu := cpuTime(b) - cpu0
		flowDropped := s.Stats().Router.Dropped[router.DropFlowControl] - f0
		close(stop)
		wg.Wait()
		var total, least float64
		for i := range fromLink {
			n := float64(fromLink[i].Load() - before[i])
			total += n
			if i == 0 || n < least {
				least = n
			}
		}
		unthrottled := float64(got) / elapsed.Seconds()
		b.ReportMetric(peak, "peak-lossless-fwd/s")
		b.ReportMetric(unthrottled, "unthrottled-fwd/s")
		b.ReportMetric(unthrottled/max(peak, 1), "goodput-ratio")
		b.ReportMetric(least/max(total/peers, 1), "min-link-share")
		b.ReportMetric(float64(read)/elapsed.Seconds(), "unthrottled-read/s")
		b.ReportMetric(float64(dropped)/elapsed.Seconds(), "unthrottled-drops/s")
		b.ReportMetric(float64(flowDropped)/elapsed.Seconds(), "unthrottled-flowcontrol-drops/s")
		b.ReportMetric(float64(s.Stats().InputWaits), "input-waits")
		b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "unthrottled-cores")
	}
}

// overloadSender writes one peer's Queries: a pre-encoded chunk whose
// GUIDs it renumbers before each write, so that every Query is new to the
// servent and costs the sender almost nothing to make.
type overloadSender struct {
	chunk []byte
	size  int // bytes per Query
	seq   uint32
}

const overloadChunk = 64 // Queries per write

func newOverloadSender(b *testing.B, tag byte) *overloadSender {
	o := &overloadSender{}
	for range overloadChunk {
		m := queryMsg(guidN(tag, 0), 2, "overload benchmark")
		var err error
		if o.chunk, err = m.Append(o.chunk); err != nil {
			b.Fatal(err)
		}
	}
	o.size = len(o.chunk) / overloadChunk
	return o
}

// next renumbers the chunk's GUIDs (bytes 1-4, after the peer's tag).
func (o *overloadSender) next() []byte {
	for off := 0; off < len(o.chunk); off += o.size {
		o.seq++
		binary.LittleEndian.PutUint32(o.chunk[off+1:], o.seq)
	}
	return o.chunk
}

// paced sends at rate Queries/s for d, returns how many it sent.
func (o *overloadSender) paced(nc net.Conn, rate float64, d time.Duration) uint64 {
	var sent uint64
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= d {
			return sent
		}
		for float64(sent+overloadChunk) <= rate*el.Seconds() {
			if _, err := nc.Write(o.next()); err != nil {
				return sent
			}
			sent += overloadChunk
		}
		time.Sleep(time.Millisecond)
	}
}

// flood sends as fast as the connection takes them until stop closes.
func (o *overloadSender) flood(nc net.Conn, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		// No write deadline: a write it cut short would break the
		// framing. The servent keeps reading (a link's reader waits for
		// its queues a DrainWindow at most), so a write returns.
		if _, err := nc.Write(o.next()); err != nil {
			return
		}
	}
}
