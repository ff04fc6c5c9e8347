package servent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/sendq"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// byeWindow is how long a closing connection has to deliver our Bye (its
// codes are wire's, wire.ByeNormal and the rest) and see the peer close in
// turn (gtk-gnutella doc/gnutella/bye, appendix 3: shut down the writing
// side, keep reading a while).
const byeWindow = 2 * time.Second

// errPeerBye ends a connection whose peer said goodbye.
var errPeerBye = errors.New("peer sent Bye")

// errClosing ends the reader when we close the connection ourselves.
var errClosing = errors.New("connection closing")

// writeBufs are the writer's batch buffers, taken only while there is
// something to send so that idle connections hold none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBatch); return &b }}

// writeBatch is the most a writer takes from its queue for one write. The
// queue's wait mark is two of them, and for a queue too small to hold that
// within its low mark a batch is half the mark (sendq.Config.Batch): a
// batch taken from a congested queue leaves some queued, so its room goes
// to the links in line in turns.
const writeBatch = 16 << 10

// conn is one established Gnutella connection.
type conn struct {
	s    *Servent
	id   router.PeerID
	nc   net.Conn
	peer *peerInfo
	in   io.Reader       // br, or an inflating reader over it
	zw   *linkzip.Writer // nil unless we compress what we send
	q    *sendq.Queue
	// out is what the writer writes to: nc, or zw over nc, through a
	// counter of the bytes that reach the socket.
	out io.Writer

	done      chan struct{} // closed once the connection is gone
	closeOnce sync.Once
	closing   atomic.Bool   // close began: what arrives now is discarded
	slotFree  sync.Once     // the peer's slot given back (freeSlot)
	byeCode   atomic.Uint32 // the Bye we sent, 0 if none
	byeBy     time.Time     // with byeCode: the end of the Bye window
	peerBye   atomic.Uint32 // the Bye we got, 0 if none
	// connectBackAt is when we last answered the peer's GTKG/7 (UnixNano,
	// 0: never; reach.go).
	connectBackAt atomic.Int64
	started       time.Time
	kind          router.PeerKind // Leaf: the peer is our leaf
	slot          slotKind

	// lastRx is when bytes last arrived (UnixNano); alive checks it every
	// so often and pings a silent peer (see keepalive).
	lastRx   atomic.Int64
	alive    *time.Timer
	pingedAt time.Time // owned by keepalive: our last keepalive Ping (zero: none)

	// qrpSent is the table the peer holds from us, under qrpMu. The table
	// it sent us is the router's (Router.SetQRT).
	qrpMu   sync.Mutex
	qrpSent *router.QueryRouteTable

	// Owned by the reader goroutine.
	qrpRecv   *router.QRTReceiver // created with the first QRP message
	malformed int
	qh        router.QueryHashes // the Query being routed
	// pongWindow and pongsLearnt: the Pongs of this link the host cache
	// learnt in the window begun at pongWindow (learnPong).
	pongWindow  time.Time
	pongsLearnt int
	routeBuf    []router.PeerID
	fwdBuf      []byte
	// congested are the queues the last descriptor was delivered to that
	// were congested, but for those whose turn the reader holds: it waits
	// for its turn at them before it reads on (the input budget, see
	// awaitRoom). granted are the queues whose turn it holds, while it
	// has credit left: bytes it may still forward to them.
	congested []*sendq.Queue
	granted   []*sendq.Queue
	credit    int
	waiter    *sendq.Waiter

	stats connStats
}

// connStats counts what crossed one connection, by direction and type.
type connStats struct {
	inMsgs, inBytes [256]atomic.Uint64
	outBytes        atomic.Uint64
	wireOut         atomic.Uint64 // bytes written to the socket, after compression
	malformed       atomic.Uint64
}

// startConn registers an established connection and runs it.
func (s *Servent) startConn(nc net.Conn, br *bufio.Reader, p *peerInfo) {
	c := &conn{
		s:       s,
		nc:      nc,
		peer:    p,
		started: time.Now(),
		q:       sendq.New(sendq.Config{MaxBytes: s.cfg.SendQueueBytes, StuckAfter: s.cfg.StuckAfter, Batch: writeBatch}),
		slot:    p.slot,
		waiter:  sendq.NewWaiter(),
	}
	c.lastRx.Store(c.started.UnixNano())
	c.in = &rxClock{r: nc, last: &c.lastRx}
	if n := br.Buffered(); n > 0 {
		// Bytes the handshake read past its last block: descriptors.
		b, _ := br.Peek(n) // cannot fail: they are buffered
		c.in = io.MultiReader(bytes.NewReader(bytes.Clone(b)), c.in)
	}
	cw := &countWriter{w: nc, n: &c.stats.wireOut}
	c.out = cw
	if p.slot == slotLeaf {
		// Only an ultrapeer has leaf slots.
		c.kind = router.Leaf
	}
	if p.deflateIn {
		c.in = linkzip.NewReader(c.in, linkzip.ReaderConfig{})
	}
	if p.deflateOut {
		zw, err := linkzip.NewWriter(cw, linkzip.WriterConfig{})
		if err != nil {
			// Only a bad level fails, and we pass the default.
			panic(err)
		}
		c.zw, c.out = zw, zw
		s.deflating.Add(1)
	}
	if !s.register(c) {
		// We are shutting down: a link that got here meanwhile still
		// gets its Bye.
		if c.zw != nil {
			s.deflating.Add(-1)
		}
		c.byeNow(wire.ByeNormal, "Shutting Down")
		s.releaseFor(p)
		s.log.Info("disconnected", zap.Stringer("peer", p.remote), zap.Duration("up", 0),
			zap.Uint32("bye_sent", uint32(wire.ByeNormal)), zap.String("why", "shutting down as the link came up"))
		return
	}
	s.log.Info("connected", zap.Stringer("peer", p.remote), zap.String("user_agent", p.userAgent),
		zap.Bool("outgoing", p.outgoing), zap.Bool("ultrapeer", p.ultrapeer),
		zap.Bool("deflate_in", p.deflateIn), zap.Bool("deflate_out", p.deflateOut), zap.Bool("tls", p.tls), zap.Bool("v04", p.version04))
	s.emit(Event{Kind: EventConnected, Peer: p.name(), Detail: p.userAgent, Outgoing: p.outgoing})
	s.learnLinkTLS(p)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run()
	}()
}

// run ties the reader's and the writer's lifetimes: when either ends, the
// connection closes and the other ends too.
func (c *conn) run() {
	var g errgroup.Group
	g.Go(c.readLoop)
	g.Go(c.writeLoop)
	c.s.sendMessagesSupported(c)
	c.s.askPushProxy(c)
	c.s.requestConnectBack(c)
	// Say hello: a TTL-2 Ping gets the neighbour's Pong and, with pong
	// caching, Pongs for hosts it knows (a TTL-1 Ping is a keepalive that
	// asks only about the neighbour itself). Our leaves get no Pings but
	// keepalives: we answer theirs from the pong cache instead.
	if c.kind != router.Leaf {
		c.s.sendPing(c, 2)
	}
	c.s.sendOurQRT(c)
	// Armed only once c.alive is set, which keepalive resets.
	c.alive = time.AfterFunc(time.Duration(math.MaxInt64), c.keepalive)
	c.alive.Reset(c.s.cfg.KeepAlive)
	err := g.Wait()
	c.alive.Stop()
	c.nc.Close()
	c.s.unregister(c)
	fields := []zap.Field{zap.Stringer("peer", c.peer.remote), zap.Duration("up", time.Since(c.started))}
	if code := c.byeCode.Load(); code != 0 {
		fields = append(fields, zap.Uint32("bye_sent", code))
	}
	if code := c.peerBye.Load(); code != 0 {
		fields = append(fields, zap.Uint32("bye_received", code))
	}
	ev := Event{Kind: EventDisconnected, Peer: c.peer.name(), Outgoing: c.peer.outgoing,
		ByeSent: uint16(c.byeCode.Load()), ByeReceived: uint16(c.peerBye.Load())}
	if err != nil && !errors.Is(err, errPeerBye) && !errors.Is(err, errClosing) && !errors.Is(err, io.EOF) {
		fields = append(fields, zap.Error(err))
		ev.Detail = err.Error()
	}
	c.s.log.Info("disconnected", fields...)
	c.s.emit(ev)
}

// close ends the connection with a Bye (code 0: without one). The writer
// delivers the Bye, then everything stops; a peer that does not take it
// within byeWindow is cut off.
func (c *conn) close(code uint16, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		if code == 0 || c.peer.version04 && code != wire.ByeNormal {
			// No Bye: just stop. (0.4 peers may not know Bye, but a
			// shutdown Bye does no harm: it is the last thing sent.)
			c.q.Close()
			_ = c.nc.SetDeadline(time.Now())
			return
		}
		c.byeBy = time.Now().Add(byeWindow)
		c.byeCode.Store(uint32(code))
		b, err := byeMessage(code, reason)
		if err == nil {
			err = c.q.Enqueue(b, true)
		}
		if err != nil {
			c.q.Close()
		}
		_ = c.nc.SetWriteDeadline(c.byeBy)
	})
}

// byeMessage encodes our Bye.
func byeMessage(code uint16, reason string) ([]byte, error) {
	bye := wire.NewBye(code, reason, "Server: "+UserAgent)
	m := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1}, Bye: bye}
	return m.Append(nil)
}

// byeNow says Bye on a connection that never ran, in the caller's
// goroutine, and closes it as closeAfterBye would: half-close, then read
// until the peer closes or the Bye window ends.
func (c *conn) byeNow(code uint16, reason string) {
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(byeWindow))
	b, err := byeMessage(code, reason)
	if err == nil {
		_, err = c.out.Write(b)
	}
	if err == nil && c.zw != nil {
		err = c.zw.Flush()
	}
	if err != nil {
		return
	}
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c.nc)
}

// enqueue queues an encoded descriptor for this peer, never blocking. A
// queue that stays full ends the connection with Bye 502.
func (c *conn) enqueue(desc []byte, own bool) bool {
	err := c.q.Enqueue(desc, own)
	if err == nil {
		return true
	}
	if c.q.Stuck() {
		c.close(wire.ByeSendQueueFull, "Send Queue Full")
	}
	return false
}

// writeLoop sends what the queue holds, in batches, compressing and
// sync-flushing when the link is compressed and the queue runs dry.
func (c *conn) writeLoop() error {
	ctx := c.s.ctx
	for {
		if err := c.q.Wait(ctx); err != nil {
			// ErrClosed: our Bye went out (or there was none).
			c.closeAfterBye()
			if errors.Is(err, sendq.ErrClosed) {
				return errClosing
			}
			return err
		}
		bp := writeBufs.Get().(*[]byte)
		buf, left := c.q.DequeueBatch((*bp)[:0])
		if c.byeCode.Load() == 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.writeTimeout()))
		}
		_, err := c.out.Write(buf)
		if err == nil && left == 0 && c.zw != nil {
			err = c.zw.Flush()
		}
		c.q.Written()
		c.stats.outBytes.Add(uint64(len(buf)))
		*bp = buf[:0]
		writeBufs.Put(bp)
		if err != nil {
			c.closeAfterBye()
			return fmt.Errorf("write: %w", err)
		}
	}
}

// countWriter counts the bytes that reach the socket.
type countWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n.Add(uint64(n))
	return n, err
}

// closeAfterBye ends the connection once the writer is done. After a Bye
// it half-closes and lets the reader drain what the peer still sends until
// the peer closes too or the Bye window ends: closing with unread input
// would reset the connection, and the peer's stack could drop our Bye
// unread (gtk-gnutella doc/gnutella/bye, appendix 3).
func (c *conn) closeAfterBye() {
	c.closeOnce.Do(func() { c.closing.Store(true); c.q.Close() })
	c.freeSlot()
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	if c.byeCode.Load() != 0 {
		_ = c.nc.SetReadDeadline(c.byeBy)
	} else {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// freeSlot gives back the slot the link holds, once. The writer calls it
// before its half-close, the first the peer can see of the end: a peer
// that connects again as soon as it reads the end finds its slot free, not
// the servent full until the reader has waited out the Bye window.
func (c *conn) freeSlot() { c.slotFree.Do(func() { c.s.releaseFor(c.peer) }) }

// readLoop reads descriptors until the connection ends. It sets no
// deadline of its own (keepalive watches the silence), so nothing breaks off
// a read halfway through a descriptor or a deflate block; closing sets one.
//
// Each header goes to the router's Screen before its payload is decoded: a
// duplicate, a descriptor with no TTL or route left, and a Query that
// arrives while our queue to its sender is in flow control are dropped on
// the header alone, their payloads skipped undecoded.
func (c *conn) readLoop() error {
	r := wire.NewReaderSize(c.in, c.s.cfg.MaxPayload, readBufferSize)
	for {
		if err := c.awaitRoom(); err != nil {
			return err
		}
		h, err := r.ReadHeader()
		if err != nil {
			return c.readFailed(err)
		}
		if c.closing.Load() {
			// After a Bye, what still arrives is read only to be dropped.
			continue
		}
		size := uint64(wire.HeaderLen) + uint64(h.Length)
		c.stats.inMsgs[h.Type].Add(1)
		c.stats.inBytes[h.Type].Add(size)
		if c.s.observed() {
			c.s.emit(Event{Kind: EventReceived, Peer: c.peer.name(), GUID: h.GUID, Type: h.Type,
				Hops: min(h.Hops, 254) + 1, Bytes: int(size)})
		}
		if reason := c.s.router.Screen(c.id, h, c.q.InFlowControl()); reason != router.NotDropped {
			c.s.logDrop(c, h, reason.String())
			continue
		}
		m, err := r.ReadPayload()
		if err != nil && m == nil {
			return c.readFailed(err)
		}
		if err != nil {
			// A payload that does not parse: drop it; a peer that keeps
			// sending them is broken or hostile.
			c.malformed++
			c.stats.malformed.Add(1)
			c.s.stats.malformed.Add(1)
			c.s.rateLog("malformed descriptor", c.nc, err)
			if c.malformed >= c.s.cfg.MaxMalformed {
				c.close(wire.ByeTooBig, "Malformed Descriptors")
				return err
			}
			continue
		}
		if err := c.s.handle(c, m); err != nil {
			return err
		}
	}
}

// readFailed ends the reader on a read error: a frame we cannot read gets
// Bye 400, the end of the stream or a closing link none.
func (c *conn) readFailed(err error) error {
	switch {
	case c.closing.Load() || c.s.ctx.Err() != nil:
		return errClosing
	case errors.Is(err, wire.ErrFrame):
		c.s.rateLog("broken frame", c.nc, err)
		c.close(wire.ByeTooBig, frameReason(err))
		return err
	default:
		c.close(0, "")
		return err
	}
}

// awaitRoom is the link's input budget: it reads on only once it has had
// its turn at the room in the congested queues its last descriptor went to,
// so that the servent reads a link no faster than what it reads can be sent
// and TCP pushes back on the sender. The queues hand out their room in
// turns, first come first (sendq.Queue.AwaitRoom), each turn a credit of
// bytes the link may forward to that queue before it checks it again (the
// other queues it checks for every descriptor): links share the room
// fairly, and one with more to send gets no more of it. A
// queue whose writer stops draining it (its peer reads nothing) is waited
// for DrainWindow at most: flow control drops for that one instead of it
// holding up every link.
func (c *conn) awaitRoom() error {
	if len(c.congested) == 0 {
		return nil
	}
	if c.credit <= 0 {
		c.granted, c.credit = c.granted[:0], math.MaxInt
	}
	for _, q := range c.congested {
		got, waited, err := q.AwaitRoom(c.s.ctx, c.waiter)
		if err != nil {
			return errClosing
		}
		if waited {
			c.s.stats.inputWaits.Add(1)
			c.credit = min(c.credit, got)
			c.granted = append(c.granted, q)
		}
	}
	c.congested = c.congested[:0]
	if len(c.granted) == 0 {
		c.credit = 0
	}
	return nil
}

// holdsTurn reports whether the reader may forward to q without checking
// it: it has had its turn at q and credit is left.
func (c *conn) holdsTurn(q *sendq.Queue) bool {
	return c.credit > 0 && slices.Contains(c.granted, q)
}

// keepalive runs off c.alive, at least once per KeepAlive. A peer silent
// for KeepAlive gets a TTL-1 Ping, which every servent answers at once with
// a Pong (gtk-gnutella always answers these "alive pings", even from a
// leaf it throttles other Pings of); one silent for twice that is gone:
// Bye 405. It also ends a link whose send queue is stuck (Bye 502).
// gtk-gnutella itself pings after 20 s of silence from an ultrapeer and 120
// s from a leaf, and gives up after 6 (4 for leaves) unanswered pings.
func (c *conn) keepalive() {
	select {
	case <-c.done:
		return
	default:
	}
	ka := c.s.cfg.KeepAlive
	now := time.Now()
	last := time.Unix(0, c.lastRx.Load())
	silent := now.Sub(last)
	switch {
	case c.q.Stuck():
		c.close(wire.ByeSendQueueFull, "Send Queue Full")
		return
	case silent >= 2*ka:
		c.close(wire.ByeTimeout, "Activity timeout")
		return
	case silent >= ka && !c.pingedAt.After(last):
		c.pingedAt = now
		c.s.sendPing(c, 1)
	}
	next := last.Add(ka)
	if silent >= ka {
		next = last.Add(2 * ka)
	}
	c.alive.Reset(max(next.Sub(now), ka/8))
}

// rxClock notes when bytes arrive from the socket.
type rxClock struct {
	r    io.Reader
	last *atomic.Int64
}

func (r *rxClock) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// frameReason is the Bye text for a frame error.
func frameReason(err error) string {
	if errors.Is(err, wire.ErrTooLarge) {
		return "Too Large"
	}
	return "Broken Frame"
}

// writeTimeout bounds one batch write: a peer that reads nothing for this
// long is gone, queue or no queue.
func (s *Servent) writeTimeout() time.Duration { return 2 * s.cfg.KeepAlive }
