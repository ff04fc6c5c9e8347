package httpxfer

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// A body that stops moving is given up after a stall window fitted to the
// source's rate: the time it needs for stallBytes at the rate of its last
// full segment (or quarter, below), at least DownloaderConfig.StallTimeout (few seconds for
// any fast source) and at most ResponseTimeout (a slow source may pause
// longer between bursts). The read deadline is renewed every quarter of
// the window, and the body is given up when the last four quarters
// brought less than stallMinBytes: silence, or a trickle far below any
// useful rate, for one window (up to a quarter more).
const (
	stallBytes    = 64 << 10
	stallMinBytes = 1 << 10
	stallQuarters = 4
)

// stallWindow is the stall window for a source at rate bytes/s (0: not
// measured yet).
func stallWindow(rate float64, floor, ceiling time.Duration) time.Duration {
	w := floor
	if rate > 0 {
		w = max(w, time.Duration(float64(stallBytes)/rate*float64(time.Second)))
	}
	return min(w, ceiling)
}

// stallGuard watches the bodies read on one connection.
type stallGuard struct {
	ctx            context.Context // its end sets the deadline to now
	conn           net.Conn
	floor, ceiling time.Duration
	// rate is the source's rate in bytes/s over its last full segment or
	// quarter that brought stallMinBytes. It outlives the connection (the
	// source's worker owns it); silence and a trickle do not lower it, so
	// they do not stretch the window that detects them.
	rate *float64

	window time.Duration
	qEnd   time.Time
	q      [stallQuarters]int64 // bytes per quarter, a ring
	qi, qn int                  // current quarter, quarters completed
}

// begin starts watching a body.
func (g *stallGuard) begin() {
	g.q, g.qi, g.qn = [stallQuarters]int64{}, 0, 0
	g.next(time.Now())
}

func (g *stallGuard) next(now time.Time) {
	g.window = stallWindow(*g.rate, g.floor, g.ceiling)
	g.qEnd = now.Add(g.window / stallQuarters)
	_ = g.conn.SetReadDeadline(g.qEnd)
	if g.ctx.Err() != nil {
		// The download ended while we set the deadline: keep its "now".
		_ = g.conn.SetReadDeadline(time.Now())
	}
}

// account adds n bytes read and, once the current quarter is over, tells
// whether the last four brought too little.
func (g *stallGuard) account(n int64) (stalled bool) {
	g.q[g.qi] += n
	now := time.Now()
	if now.Before(g.qEnd) {
		return false
	}
	if b := g.q[g.qi]; b >= stallMinBytes {
		// A slow source rarely completes a segment within a quarter:
		// measure it over the quarter instead.
		*g.rate = float64(b) / (g.window / stallQuarters).Seconds()
	}
	if g.qn++; g.qn >= stallQuarters {
		var sum int64
		for _, b := range g.q {
			sum += b
		}
		if sum < stallMinBytes {
			return true
		}
	}
	g.qi = (g.qi + 1) % stallQuarters
	g.q[g.qi] = 0
	g.next(now)
	return false
}

// copyBody sizes its reads to take about segmentTime at the source's
// rate: tiny segments cost a fast transfer dearly (a splice round each),
// big ones leave a slow source's progress frozen.
const (
	minSegment  = 16 << 10
	maxSegment  = 4 << 20
	segmentTime = 100 * time.Millisecond
)

// pump reads n body bytes with step, one segment at a time, each claimed
// from k (if not nil) before and credited to it after, until done, cut,
// stalled, or stopped by a split (errSplit). It returns how many bytes
// step moved.
func (c *clientConn) pump(n int64, g *stallGuard, step func(seg int64) (int64, error), k *sink) (int64, error) {
	g.begin()
	var done int64
	for done < n {
		seg := min(n-done, c.seg)
		if k != nil {
			if seg = k.claim(seg); seg == 0 {
				return done, errSplit
			}
		}
		t0 := time.Now()
		m, err := step(seg)
		done += m
		if m > 0 && k != nil {
			k.credit(m)
		}
		took := time.Since(t0)
		switch {
		case m == seg && took < segmentTime/4 && c.seg < maxSegment:
			c.seg *= 2
		case took > segmentTime && c.seg > minSegment:
			c.seg /= 2
		}
		if m == seg && took > 0 {
			*g.rate = float64(m) / took.Seconds()
		}
		// Our own deadline ends a quarter; any other (the download's
		// context ended) ends the body.
		ours := errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(g.qEnd) && g.ctx.Err() == nil
		var se *sourceError
		if errors.As(err, &se) && se.action == actFatal {
			return done, err // the disk, not the source
		}
		if err != nil && !ours {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return done, retryErr("body cut after %d of %d bytes: %w", done, n, err)
		}
		if g.account(m) {
			return done, retryErr("stalled: under %d bytes in %v, after %d of %d bytes", stallMinBytes, g.window, done, n)
		}
	}
	return done, nil
}

// copyBody writes the next n body bytes to w at off, each run claimed
// from k before and credited to it once it reached w; a split ends it
// early with errSplit. It returns how many bytes reached w. With a tree
// to check the bytes against it reads them (readBody), else it splices.
//
// Splicing is the cheaper copy, measured: in BenchmarkTransferMesh the
// SHA-1 mode took 1.15-1.24 cpu-ms/MB spliced against 1.52-1.67 with
// readBody (1.37-1.44 with 1 MiB reads), and was faster; one source
// (BenchmarkTransferVsNginx) 1.38-1.54 against 1.53-1.63. Splice makes
// one copy where read and pwrite make two, and the large splices let the
// socket's receive buffer autotune to several MB (128 KiB reads leave it
// at 1-3 MB: more window updates, more wake-ups on both ends). The THEX
// mode gains from the latter too: its first bodies, before the tree
// arrives, are spliced.
func (c *clientConn) copyBody(w *os.File, off, n int64, g *stallGuard, k *sink) (int64, error) {
	if k.checking() {
		return c.readBody(w, off, n, g, k)
	}
	var done int64
	if b := min(int64(c.br.Buffered()), n); b > 0 {
		if b = k.claim(b); b == 0 {
			return 0, errSplit
		}
		p, _ := c.br.Peek(int(b))
		if _, err := w.WriteAt(p, off); err != nil {
			return 0, fatalErr(err)
		}
		_, _ = c.br.Discard(int(b))
		done = b
		k.credit(b)
	}
	if done == n {
		return done, nil
	}
	// Bytes already in the bufio.Reader went with WriteAt; the rest are
	// spliced from the socket into the file at its offset (io.CopyN
	// gives *os.File.ReadFrom a LimitedReader over the *net.TCPConn).
	if _, err := w.Seek(off+done, io.SeekStart); err != nil {
		return done, fatalErr(err)
	}
	m, err := c.pump(n-done, g, func(seg int64) (int64, error) {
		return io.CopyN(w, c.conn, seg)
	}, k)
	return done + m, err
}

// readBody is copyBody reading the bytes into the connection's buffer,
// showing them to k, which checks them against the tree while they are in
// cache (sink.hash), and writing them with pwrite: no verifier reads them
// back, and no hand-off to one delays the socket's reader.
func (c *clientConn) readBody(w *os.File, off, n int64, g *stallGuard, k *sink) (int64, error) {
	if c.body == nil {
		c.body = make([]byte, bodyBuffer)
	}
	return c.pump(n, g, func(seg int64) (int64, error) {
		var done int64
		for done < seg {
			m, err := c.br.Read(c.body[:min(seg-done, int64(len(c.body)))])
			if m > 0 {
				p := c.body[:m]
				k.hash(p, off)
				k.j.writeMu.Lock()
				_, err := w.WriteAt(p, off)
				k.j.writeMu.Unlock()
				if err != nil {
					k.unhash()
					return done, fatalErr(err)
				}
				off += int64(m)
				done += int64(m)
			}
			if err != nil {
				return done, err
			}
		}
		return done, nil
	}, k)
}

// bodyBuffer is readBody's read size: large enough for few system calls
// and for the socket's receive buffer to autotune to several MB (as
// splice lets it: see copyBody), small enough that the bytes are still in
// a core's L2 cache when k hashes them and when they are written. One per
// connection in use, so at most MaxConns MiB per download checking a tree.
// Measured in BenchmarkTransferMesh (2-core Xeon, 2 MiB L2 a core, quiet,
// the sizes alternately, 5 runs each): the tree-checked mode made
// 1004-1049 MB/s with 128 KiB reads, 1076-1146 with 512 KiB and 1091-1175
// with 1 MiB, at 1.42-1.53 cpu-ms/MB whatever the size, against
// 1154-1288 MB/s for the SHA-1 mode in the same runs. On a Zen 3 EPYC
// (512 KiB L2 a core, which 1 MiB does not fit; 2 vCPUs, 2026-12-04),
// with 1 MiB and 256 KiB reads alternating download by download in one
// process (6 downloads of each a run), 256 KiB took less CPU on a busy
// host, 3.28-3.88 cpu-ms/MB against 3.80-4.29 (load average 21-25, 3
// runs) and 2.69-3.67 against 2.96-3.73 (11-15, 3 runs), but not on a
// quieter one (load 4-5, 4 runs: 3.10-3.68 against 3.25-3.75) where 1 MiB
// made 212-253 MB/s against 191-245; run in separate processes (7 pairs,
// load 8-13) the two were within the noise. So 1 MiB stays. Splicing 256
// KiB at a time and reading it back to hash it did as well as 256 KiB
// reads (3.23-3.92 cpu-ms/MB in the busy runs); splicing 1 MiB at a time
// and reading it back 256 KiB at a time was within 4% of 1 MiB reads
// either way, in CPU and throughput (load 4-6, 3 runs).
const bodyBuffer = 1 << 20

// skipBody reads and drops n body bytes we did not ask for.
func (c *clientConn) skipBody(n int64, g *stallGuard) error {
	_, err := c.pump(n, g, func(seg int64) (int64, error) {
		return io.CopyN(io.Discard, c.br, seg)
	}, nil)
	return err
}
