package servent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"time"

	"go.uber.org/zap"
)

// readBufferSize is the bufio size of an accepted connection; the Gnutella
// reader reuses it, so it is the per-connection read buffer.
const readBufferSize = 4096

// protocol is what an accepted connection speaks, told by its first bytes.
type protocol int

const (
	protoUnknown protocol = iota
	protoGnutella
	protoHTTP
	protoGIV
	protoQueue
	protoRelay // a downloader joining its relay slot (relay.go)
)

// sniff tells the protocol from the first bytes: all real servents serve
// Gnutella connects, HTTP and GIV on one port.
func sniff(first []byte) protocol {
	switch {
	case bytes.HasPrefix(first, []byte("GNUT")):
		return protoGnutella
	case bytes.HasPrefix(first, []byte("GET ")), bytes.HasPrefix(first, []byte("HEAD")):
		return protoHTTP
	case bytes.HasPrefix(first, []byte("GIV ")):
		return protoGIV
	case bytes.HasPrefix(first, []byte("QUEU")):
		return protoQueue
	case bytes.HasPrefix(first, []byte("RELA")):
		return protoRelay
	}
	return protoUnknown
}

// acceptLoop accepts until the listener closes, backing off on temporary
// errors as net/http does.
func (s *Servent) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, backing off", zap.Error(err), zap.Duration("delay", delay))
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveAccepted(nc)
		}()
	}
}

// serveAccepted reads the first bytes and hands the connection to the right
// handler. Anything unknown gets a short error and a close. One deadline,
// HandshakeTimeout from now, bounds the whole first phase: the first bytes
// and then the handshake, the first HTTP request head or the GIV line.
func (s *Servent) serveAccepted(nc net.Conn) {
	from := addrPortOf(nc.RemoteAddr()).Addr()
	place, reason := s.admit(nc, from)
	if reason != "" {
		// Too many connections in their first phase: refuse before
		// reading anything.
		s.refuseEarly(nc, reason)
		return
	}
	// endFirstPhase gives the place back and reports whether it was still
	// ours; a handler calls it before it clears the deadline, so that an
	// eviction cannot set one on a connection past its first phase.
	released, kept := false, false
	endFirstPhase := func() bool {
		if !released {
			released = true
			kept = s.release(place)
		}
		return kept
	}
	defer endFirstPhase()
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	_ = nc.SetDeadline(deadline)
	br := bufio.NewReaderSize(nc, readBufferSize)
	first, err := br.Peek(4)
	if err != nil {
		s.rateLog("connection closed before saying anything", nc, err)
		nc.Close()
		return
	}
	if first[0] == tlsRecordHandshake && s.tlsConf != nil {
		// TLS from the first byte (servent/tls.go); then the protocol
		// inside it, under the same deadline.
		tc, tbr, err := s.startTLS(s.ctx, nc, br, false)
		if err == nil {
			nc, br = tc, tbr
			first, err = br.Peek(4)
		}
		if err != nil {
			s.stats.handshakeFailed.Add(1)
			s.rateLog("TLS connection failed", nc, err)
			nc.Close()
			return
		}
	}
	switch sniff(first) {
	case protoGnutella:
		s.acceptGnutella(nc, br, endFirstPhase)
	case protoHTTP:
		s.serveHTTP(nc, br, deadline, func() { endFirstPhase() })
	case protoGIV:
		s.acceptGIV(nc, br, endFirstPhase)
	case protoQueue:
		s.acceptQueue(nc, br, endFirstPhase)
	case protoRelay:
		s.xfer.relay.join(nc, br, endFirstPhase)
	default:
		s.rateLog("unknown protocol", nc, errors.New("first bytes are not GNUTELLA, GET, HEAD, GIV, QUEUE or RELAY"))
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		nc.Close()
	}
}

// contextFor returns a context cancelled when the servent stops.
func (s *Servent) contextFor(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, timeout)
}
