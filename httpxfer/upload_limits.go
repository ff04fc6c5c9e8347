package httpxfer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/govent/govent/wire"
)

// slotAllowedLocked reports whether ip's address and network are under
// their limits; u.mu is held.
func (u *Uploader) slotAllowedLocked(ip netip.Addr) bool {
	return u.perIP[ip] < u.cfg.MaxUploadsPerIP && u.perNet[wire.NetworkOf(ip)] < u.cfg.MaxUploadsPerNet
}

// takeSlotLocked gives s a slot; u.mu is held.
func (u *Uploader) takeSlotLocked(s *session) {
	u.active++
	u.perIP[s.ip]++
	u.perNet[wire.NetworkOf(s.ip)]++
	s.hasSlot = true
	s.slotFrom, s.slotAsked = time.Now(), 0
}

func (s *session) releaseSlot() {
	if !s.hasSlot {
		return
	}
	u := s.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.releaseSlotLocked(s)
}

// releaseSlotLocked gives back the slot s holds; u.mu is held.
func (u *Uploader) releaseSlotLocked(s *session) {
	u.active--
	if u.perIP[s.ip]--; u.perIP[s.ip] <= 0 {
		delete(u.perIP, s.ip)
	}
	n := wire.NetworkOf(s.ip)
	if u.perNet[n]--; u.perNet[n] <= 0 {
		delete(u.perNet, n)
	}
	s.hasSlot = false
}

// slowQuarters: the client's rate is judged over the last four quarters
// of SlowUploadTime, once a quarter.
const slowQuarters = 4

// tlsSendSegment is the most body bytes one write over TLS is asked for:
// the plaintext of one TLS record.
const tlsSendSegment = 16 << 10

// sendBody sends n bytes of f from off. io.CopyN hands conn an
// *io.LimitedReader over the *os.File, which *net.TCPConn.ReadFrom turns
// into sendfile(2). The write deadline ends each quarter of
// SlowUploadTime; a client that took less than MinUploadRate bytes/s over
// the last four is dropped with ErrSlowReader, and its slot goes to
// someone who reads.
func (s *session) sendBody(f *os.File, name string, off, n int64, progress func(sent int64)) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	cfg := &s.u.cfg
	quarter := cfg.SlowUploadTime / slowQuarters
	least := cfg.MinUploadRate * int64(cfg.SlowUploadTime/time.Millisecond) / 1000
	var q [slowQuarters]int64 // bytes sent per quarter, a ring
	qi, qn := 0, 0
	qEnd := time.Now().Add(quarter)
	// A TLS connection is unusable once a write deadline cut a write
	// (crypto/tls: its state is corrupt), so over TLS no quarter cuts a
	// write: each write is one TLS record's worth, given the whole
	// SlowUploadTime, and the quarters are judged between writes.
	seg := int64(SendSegment)
	_, overTLS := s.conn.(*tls.Conn)
	var buf []byte // over TLS: no sendfile, one buffer for every write
	if overTLS {
		seg, buf = tlsSendSegment, make([]byte, tlsSendSegment)
	} else {
		_ = s.conn.SetWriteDeadline(qEnd)
	}
	for sent := int64(0); sent < n; {
		if overTLS {
			_ = s.conn.SetWriteDeadline(time.Now().Add(cfg.SlowUploadTime))
		}
		var m int64
		var err error
		if overTLS {
			m, err = copyN(s.conn, f, min(n-sent, seg), buf)
		} else {
			m, err = io.CopyN(s.conn, f, min(n-sent, seg))
		}
		sent += m
		progress(sent)
		q[qi] += m
		now := time.Now()
		if err != nil && overTLS && errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("upload: sending %s at %d: %d bytes not taken in %v: %w", name, off+sent, seg, cfg.SlowUploadTime, ErrSlowReader)
		}
		if err != nil && (overTLS || !(errors.Is(err, os.ErrDeadlineExceeded) && !now.Before(qEnd))) {
			return fmt.Errorf("upload: sending %s at %d: %w", name, off+sent, err)
		}
		if !now.Before(qEnd) {
			if qn++; qn >= slowQuarters {
				var last int64
				for _, b := range q {
					last += b
				}
				if last < least {
					return fmt.Errorf("upload: sending %s at %d: %d bytes in %v, under %d B/s: %w",
						name, off+sent, last, cfg.SlowUploadTime, cfg.MinUploadRate, ErrSlowReader)
				}
			}
			qi = (qi + 1) % slowQuarters
			q[qi] = 0
			qEnd = now.Add(quarter)
			if !overTLS {
				_ = s.conn.SetWriteDeadline(qEnd)
			}
		}
		if err != nil {
			// A write cut by the deadline may have read more of f than
			// it sent.
			if _, err := f.Seek(off+sent, io.SeekStart); err != nil {
				return fmt.Errorf("upload: %w", err)
			}
		}
	}
	_ = s.conn.SetWriteDeadline(time.Time{})
	return nil
}

// copyN is io.CopyN through buf, which it does not allocate.
func copyN(dst io.Writer, src io.Reader, n int64, buf []byte) (int64, error) {
	m, err := io.CopyBuffer(dst, io.LimitReader(src, n), buf)
	if err == nil && m < n {
		err = io.EOF // as io.CopyN: the source ended early
	}
	return m, err
}
