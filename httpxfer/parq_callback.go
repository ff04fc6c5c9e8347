package httpxfer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// An uploader that queued us may connect to us when our place comes up
// (or when we did not poll in time) and send
//
//	QUEUE <ID> <its IP>:<its port>\r\n
//
// on our listening port, if our requests carried X-Node (we are not
// firewalled). The servent reads the line (ReadQueueCallback) and hands
// the connection to Downloader.QueueCallback; the download queued under
// that ID sends its next GET on it at once, as after a GIV.

// maxQueueLine bounds a QUEUE line.
const maxQueueLine = 256

// QueueCallback is a QUEUE line.
type QueueCallback struct {
	ID   string
	Addr netip.AddrPort // the uploader's address now
}

// ReadQueueCallback reads a QUEUE line (ending in LF or CRLF) from br and
// nothing after it.
func ReadQueueCallback(br *bufio.Reader) (QueueCallback, error) {
	var buf [maxQueueLine + 1]byte
	b := buf[:0]
	for {
		c, err := br.ReadByte()
		if err != nil {
			return QueueCallback{}, fmt.Errorf("%w: QUEUE: %w", ErrTruncated, err)
		}
		if c == '\n' {
			break
		}
		if len(b) == maxQueueLine {
			return QueueCallback{}, fmt.Errorf("%w: QUEUE line longer than %d bytes", ErrMalformed, maxQueueLine)
		}
		b = append(b, c)
	}
	line := bytes.TrimSuffix(b, []byte{'\r'})
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[0]) != "QUEUE" || !validQueueID(string(f[1])) {
		return QueueCallback{}, fmt.Errorf("%w: QUEUE line %q", ErrMalformed, clip(line))
	}
	ap, err := netip.ParseAddrPort(string(f[2]))
	if err != nil {
		return QueueCallback{}, fmt.Errorf("%w: QUEUE address in %q", ErrMalformed, clip(line))
	}
	return QueueCallback{ID: string(f[1]), Addr: ap}, nil
}

// callbackTable holds the downloads waiting in a queue, by PARQ ID.
type callbackTable struct {
	mu      sync.Mutex
	waiting map[string]chan net.Conn
}

// QueueCallback hands conn, opened by an uploader with a QUEUE line for
// id, to the download queued under that ID, which then owns it. It
// reports false, and leaves conn to the caller, when no download waits
// under id.
func (d *Downloader) QueueCallback(id string, conn net.Conn) bool {
	t := &d.callbacks
	t.mu.Lock()
	defer t.mu.Unlock()
	ch, ok := t.waiting[id]
	if !ok {
		return false
	}
	select {
	case ch <- conn:
		delete(t.waiting, id)
		return true
	default:
		return false
	}
}

// waitQueued waits d before polling for our place under id, or until the
// uploader calls back: then it returns the callback's connection.
func (j *job) waitQueued(ctx context.Context, id string, d time.Duration) (net.Conn, error) {
	t := j.callbacks
	ch := make(chan net.Conn, 1)
	t.mu.Lock()
	if t.waiting == nil {
		t.waiting = make(map[string]chan net.Conn)
	}
	t.waiting[id] = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.waiting[id] == ch {
			delete(t.waiting, id)
		}
		t.mu.Unlock()
		select {
		case conn := <-ch: // raced in after we stopped waiting
			conn.Close()
		default:
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- j.cfg.Wait(wctx, d) }()
	select {
	case err := <-done:
		return nil, err
	case conn := <-ch:
		cancel()
		<-done
		return conn, nil
	}
}
