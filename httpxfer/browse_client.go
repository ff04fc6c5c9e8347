package httpxfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// ErrBrowseLimit: a browse stream went past BrowseOptions.MaxBytes,
// MaxHits or Timeout and was cut; the files read until then are kept.
var ErrBrowseLimit = errors.New("browse stream over its limit")

// BrowseOptions bound a Browse. Zero fields take the defaults.
type BrowseOptions struct {
	UserAgent string        // default "govent"
	MaxBytes  int64         // the stream, inflated; default 16 MiB
	MaxHits   int           // QueryHit descriptors; default 10,000
	Timeout   time.Duration // the whole browse; default 2 min
}

// BrowseFile is one file a browsed servent shares.
type BrowseFile struct {
	Index   uint32
	Name    string
	Size    uint32
	SHA1    wire.SHA1
	HasSHA1 bool
}

// BrowseResult is what a browse found.
type BrowseResult struct {
	Server      string         // the Server header
	ServentGUID wire.GUID      // from the QueryHits
	Addr        netip.AddrPort // the address the QueryHits announce
	Push        bool           // the QueryHits say the servent is firewalled
	Hits        int            // QueryHit descriptors read
	Files       []BrowseFile
}

// Browse asks for "/" as a stream of QueryHits on conn (dialled, or
// opened by a GIV after a Push) and reads the files it lists. host is
// the Host header, may be empty; errors name it ("browse HOST: 404 Not
// Found"). It closes conn. On an error the result holds the files read
// until then; a stream past a limit ends with ErrBrowseLimit.
func Browse(ctx context.Context, conn net.Conn, host string, opts BrowseOptions) (*BrowseResult, error) {
	defer conn.Close()
	if opts.UserAgent == "" {
		opts.UserAgent = "govent"
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
	}
	if opts.MaxHits <= 0 {
		opts.MaxHits = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	res := &BrowseResult{}
	var timedOut atomic.Bool
	timer := time.AfterFunc(opts.Timeout, func() {
		timedOut.Store(true)
		_ = conn.SetDeadline(time.Now())
	})
	defer timer.Stop()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	answered := false // a response head arrived
	err := browse(conn, host, opts, res, &answered)
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, ctx.Err()
	case timedOut.Load() && !answered:
		err = fmt.Errorf("no answer within %v", opts.Timeout)
	case timedOut.Load():
		err = fmt.Errorf("%w: %v", ErrBrowseLimit, opts.Timeout)
	}
	if host == "" {
		return res, fmt.Errorf("browse: %w", err)
	}
	return res, fmt.Errorf("browse %s: %w", host, err)
}

func browse(conn net.Conn, host string, opts BrowseOptions, res *BrowseResult, answered *bool) error {
	var b []byte
	b = append(b, "GET / HTTP/1.1\r\n"...)
	if host != "" {
		b = append(b, "Host: "+host+"\r\n"...)
	}
	b = append(b, "User-Agent: "+opts.UserAgent+"\r\nAccept: "+browseType+"\r\nAccept-Encoding: deflate\r\nConnection: close\r\n\r\n"...)
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("writing request: %w", err)
	}
	br := bufio.NewReader(conn)
	h, err := readHead(br)
	if err != nil {
		return fmt.Errorf("reading response head: %w", err)
	}
	*answered = true
	resp, _, err := parseStatus(h)
	if err != nil {
		return err
	}
	res.Server, _ = h.Get("Server")
	res.Server = printable(res.Server)
	if resp.status != 200 {
		return errors.New(resp.statusText())
	}
	if ct, _ := h.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), browseType) {
		return fmt.Errorf("Content-Type %q, not %s", printable(ct), browseType)
	}
	var body io.Reader = br
	switch {
	case h.HasToken("Transfer-Encoding", "chunked"): // gtk-gnutella chunks it
		body = httputil.NewChunkedReader(br)
	case len(h.Values("Transfer-Encoding")) > 0:
		return fmt.Errorf("%w: Transfer-Encoding %q", ErrMalformed, printable(strings.Join(h.Values("Transfer-Encoding"), ",")))
	default:
		if v, ok := h.Get("Content-Length"); ok {
			n, ok := parseDigits(v)
			if !ok {
				return fmt.Errorf("%w: Content-Length %q", ErrMalformed, printable(v))
			}
			body = io.LimitReader(br, n)
		}
	}
	switch enc, _ := h.Get("Content-Encoding"); strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
	case "deflate":
		body = linkzip.NewReader(body, linkzip.ReaderConfig{MaxOutput: opts.MaxBytes})
	default:
		return fmt.Errorf("Content-Encoding %q", printable(enc))
	}
	lr := &io.LimitedReader{R: body, N: opts.MaxBytes + 1}
	return readHits(wire.NewReader(lr, 0), lr, opts, res)
}

// readHits reads QueryHits until the stream ends.
func readHits(r *wire.Reader, lr *io.LimitedReader, opts BrowseOptions, res *BrowseResult) error {
	for {
		m, err := r.ReadMessage()
		switch {
		case lr.N <= 0 || errors.Is(err, linkzip.ErrTooLarge):
			return fmt.Errorf("%w: over %d bytes", ErrBrowseLimit, opts.MaxBytes)
		case errors.Is(err, linkzip.ErrBomb):
			return fmt.Errorf("%w: %w", ErrBrowseLimit, err)
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("after %d QueryHits: %w", res.Hits, err)
		}
		if m.Header.Type != wire.TypeQueryHit {
			return fmt.Errorf("%w: a descriptor of type %#x in the stream", ErrMalformed, m.Header.Type)
		}
		if res.Hits == opts.MaxHits {
			return fmt.Errorf("%w: over %d QueryHits", ErrBrowseLimit, opts.MaxHits)
		}
		res.Hits++
		qh := &m.QueryHit
		res.ServentGUID, res.Addr = qh.ServentGUID, qh.AddrPort()
		if push, ok := qh.QHD.Push(); ok && qh.HasQHD {
			res.Push = push
		}
		for i := range qh.Results {
			rr := &qh.Results[i]
			f := BrowseFile{Index: rr.Index, Name: string(rr.Name), Size: rr.Size}
			f.SHA1, f.HasSHA1 = rr.Ext.SHA1()
			res.Files = append(res.Files, f)
		}
	}
}
