package servent

import (
	"bufio"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
)

// rateLog logs bad input from a peer at most once a second per reason.
func (s *Servent) rateLog(reason string, nc net.Conn, err error) {
	s.limited.Log(zapcore.InfoLevel, reason, reason, zap.String("remote", nc.RemoteAddr().String()), zap.Error(err))
}

// logUpload is the uploader's OnUpload: one line per body sent, at most
// one a second per client address.
func (s *Servent) logUpload(r httpxfer.UploadRecord) {
	host, _, _ := net.SplitHostPort(r.Remote)
	fields := []zap.Field{zap.String("remote", r.Remote), zap.String("file", r.Name), zap.Int64("bytes", r.Sent),
		zap.Int64("offset", r.Offset), zap.Int64("length", r.Length), zap.Int64("size", r.Size),
		zap.Duration("time", r.Duration.Round(time.Millisecond))}
	msg := "upload"
	if r.Err != nil {
		msg = "upload cut short"
		fields = append(fields, zap.Error(r.Err))
	}
	s.limited.Log(zapcore.InfoLevel, "upload "+host, msg, fields...)
}

// readPeerBlock reads one handshake block from nc and, at debug, logs it
// (one block a second per address and direction at most).
func (s *Servent) readPeerBlock(nc net.Conn, br *bufio.Reader) (*wire.Handshake, error) {
	h, err := readBlock(br)
	if err == nil {
		s.logBlock("handshake received", nc, h)
	}
	return h, err
}

// writePeerBlock writes one handshake block to nc, logged as readPeerBlock
// logs.
func (s *Servent) writePeerBlock(nc net.Conn, h *wire.Handshake) error {
	s.logBlock("handshake sent", nc, h)
	return writeBlock(nc, h)
}

func (s *Servent) logBlock(msg string, nc net.Conn, h *wire.Handshake) {
	if !s.log.Core().Enabled(zapcore.DebugLevel) {
		return
	}
	remote := nc.RemoteAddr().String()
	host, _, _ := net.SplitHostPort(remote)
	headers := make([]string, len(h.Headers))
	for i, hd := range h.Headers {
		headers[i] = hd.Name + ": " + hd.Value
	}
	s.limited.Log(zapcore.DebugLevel, msg+" "+host, msg, zap.String("remote", remote),
		zap.String("start_line", h.StartLine), zap.Strings("headers", headers))
}

// logDrop logs, at debug, a received descriptor that went nowhere and why:
// one line a second per reason at most.
func (s *Servent) logDrop(c *conn, h *wire.Header, reason string) {
	if !s.log.Core().Enabled(zapcore.DebugLevel) {
		return
	}
	s.limited.Log(zapcore.DebugLevel, "routing drop "+reason, "routing drop", zap.String("reason", reason),
		zap.Stringer("peer", c.peer.name()), zap.Stringer("type", h.Type), zap.Stringer("guid", h.GUID),
		zap.Uint8("ttl", h.TTL), zap.Uint8("hops", h.Hops))
}

// sourceRate is a per-address limit over fixed windows of span: the UDP
// datagrams of one source, the Pushes we answer naming one address. Its
// user serialises the calls.
type sourceRate struct {
	limit  int
	span   time.Duration
	window time.Time
	counts map[netip.Addr]int
}

// allow counts one event for a and reports whether it is within the
// limit for this window.
func (r *sourceRate) allow(a netip.Addr, now time.Time) bool {
	if now.Sub(r.window) >= r.span || now.Before(r.window) {
		r.window = now
		clear(r.counts)
	}
	if _, ok := r.counts[a]; !ok && len(r.counts) >= maxRateSources {
		a = netip.Addr{} // the shared budget of the overflow
	}
	n := r.counts[a] + 1
	r.counts[a] = n
	return n <= r.limit
}
