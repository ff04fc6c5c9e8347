package httpxfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// UploaderConfig configures an Uploader. Zero values take the defaults
// named on each field.
type UploaderConfig struct {
	Library Library // required
	// Browser, if set, answers browse host requests (GET / and HEAD /).
	Browser Browser
	Server  string // the Server header; default "govent"
	// Features is the X-Features header of every reply (gtk-gnutella's
	// doc/gnutella/x-features: "tls/1.0, browse/1.0"); empty sends none.
	Features string

	// Upload slots. A connection takes a slot at its first GET of a file
	// body and keeps it until it closes, so a keep-alive downloader is not
	// cut off between its range requests. When no slot is free the GET is
	// queued (PARQ, see parq_upload.go) and answered "503 Queued" with its
	// place and Retry-After; past MaxQueue entries, "503 Queue full".
	// Neighbours share: a few hosts in one network cannot hold every slot.
	MaxUploads       int           // global; default 8
	MaxUploadsPerIP  int           // per remote IP; default 2
	MaxUploadsPerNet int           // per network (wire.NetworkOf: /24, IPv6 /48); default 2 x per IP
	RetryAfter       time.Duration // sent with a 503 that is not a queue place; default 60 s
	MaxQueue         int           // queued requests; default 500
	// MaxQueuePerIP bounds the places one remote IP holds, so that one
	// host asking for many files (or one file under many names) cannot
	// fill the queue; past it, "503 Too many queued from your address".
	// Default MaxQueue/20, at least 1.
	MaxQueuePerIP int
	// The Retry-After of queue position p is QueuePoll + (p-1)*QueuePoll/2,
	// at most MaxQueuePoll (defaults 30 s and 10 min, as gtk-gnutella).
	QueuePoll, MaxQueuePoll time.Duration

	// Time limits against slow and idle clients.
	HeaderTimeout time.Duration // to read one request head; default 15 s
	IdleTimeout   time.Duration // between keep-alive requests; default 60 s
	// A client that reads a body at less than MinUploadRate bytes/s over
	// the last SlowUploadTime (checked every quarter of it) is dropped,
	// which frees its slot (defaults 4 KiB/s and 30 s). SlowUploadTime
	// also bounds the write of a reply head.
	MinUploadRate  int64
	SlowUploadTime time.Duration

	MaxAltLocs int // X-Alt entries per reply; default 10
	// Mesh, if set, gives the X-Alt and X-Falt of each reply, and takes
	// the X-Alt and X-NAlt that downloaders send us.
	Mesh *Mesh

	// PushProxies, if set, returns a firewalled servent's push proxies;
	// every reply lists them in X-Push-Proxy (push_proxy spec 4.2), so
	// the downloader can reach us again when this connection is gone.
	PushProxies func() []netip.AddrPort

	// OnUpload, if set, is told of every file body sent, in full or cut
	// short, once it ends (the servent logs them). It must not block.
	OnUpload func(UploadRecord)

	// Connections served at once, with or without an upload slot. Past
	// MaxSessions the keep-alive connection idle longest without a slot is
	// closed to make room; when there is none, or the client's address has
	// MaxSessionsPerIP already, the first request is answered 503.
	MaxSessions      int // default DefaultMaxSessions or 2*MaxUploads, the larger
	MaxSessionsPerIP int // default DefaultMaxSessionsPerIP or MaxUploadsPerIP+2, the larger
}

// Session limit defaults: room beside the upload slots for clients that
// only ask HEAD or wait in a queue.
const (
	DefaultMaxSessions      = 32
	DefaultMaxSessionsPerIP = 4
)

// SendSegment is the most body bytes one write (one sendfile) is asked
// for.
const SendSegment = 1 << 20

// Uploader serves GET and HEAD for shared files. It is safe for concurrent
// use by any number of connections.
type Uploader struct {
	cfg UploaderConfig

	mu     sync.Mutex
	active int
	perIP  map[netip.Addr]int
	perNet map[netip.Prefix]int
	queue  []*queueEntry // PARQ, oldest first

	queueSaved atomicfile.Last // what the last SaveQueue wrote (parq_persist.go)

	sessions sessionTable
	uploads  uploadTable
}

// NewUploader returns an Uploader for cfg, with defaults filled in.
func NewUploader(cfg UploaderConfig) *Uploader {
	if cfg.Server == "" {
		cfg.Server = "govent"
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 8
	}
	if cfg.MaxUploadsPerIP <= 0 {
		cfg.MaxUploadsPerIP = 2
	}
	if cfg.MaxUploadsPerNet <= 0 {
		cfg.MaxUploadsPerNet = 2 * cfg.MaxUploadsPerIP
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 60 * time.Second
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 500
	}
	if cfg.MaxQueuePerIP <= 0 {
		cfg.MaxQueuePerIP = max(1, cfg.MaxQueue/20)
	}
	if cfg.QueuePoll <= 0 {
		cfg.QueuePoll = 30 * time.Second
	}
	if cfg.MaxQueuePoll <= 0 {
		cfg.MaxQueuePoll = 10 * time.Minute
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 15 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MinUploadRate <= 0 {
		cfg.MinUploadRate = 4 << 10
	}
	if cfg.SlowUploadTime <= 0 {
		cfg.SlowUploadTime = 30 * time.Second
	}
	if cfg.MaxAltLocs <= 0 {
		cfg.MaxAltLocs = 10
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = max(DefaultMaxSessions, 2*cfg.MaxUploads)
	}
	if cfg.MaxSessionsPerIP <= 0 {
		cfg.MaxSessionsPerIP = max(DefaultMaxSessionsPerIP, cfg.MaxUploadsPerIP+2)
	}
	return &Uploader{cfg: cfg, perIP: make(map[netip.Addr]int), perNet: make(map[netip.Prefix]int)}
}

// ActiveUploads returns the number of upload slots in use.
func (u *Uploader) ActiveUploads() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active
}

// ServeConn serves HTTP requests on conn until the client closes, a time
// limit expires, a request cannot be answered on the same connection, or
// ctx ends. br holds bytes already read from conn (the servent sniffed the
// first bytes to tell HTTP from Gnutella); nil means none. ServeConn closes
// conn. For a GIV connection the servent writes the GIV (AppendGIV) first and
// then calls ServeConn with the same conn.
//
// File bodies are written straight to conn, so a *net.TCPConn gets the
// kernel's sendfile path; do not wrap it. It returns nil when the
// connection ended normally (client close, idle keep-alive timeout).
func (u *Uploader) ServeConn(ctx context.Context, conn net.Conn, br *bufio.Reader) error {
	return u.ServeConnWith(ctx, conn, br, ConnOptions{})
}

// ServeConnWith is ServeConn with options for the first request.
func (u *Uploader) ServeConnWith(ctx context.Context, conn net.Conn, br *bufio.Reader, opts ConnOptions) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if br == nil {
		br = bufio.NewReader(conn)
	}
	s := &session{u: u, conn: conn, br: br, ip: remoteIP(conn), opts: opts}
	defer s.firstHeadRead()
	if !u.sessions.admit(s, u.cfg.MaxSessions, u.cfg.MaxSessionsPerIP) {
		return s.refuseBusy()
	}
	defer u.sessions.close(s)
	defer s.releaseSlot()
	for first := true; ; first = false {
		keep, err := s.serveOne(first)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !keep {
			return err
		}
	}
}

func remoteIP(conn net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return netip.Addr{} // net.Pipe and friends: all count as one client
	}
	return ap.Addr().Unmap()
}

// session is one upload connection.
type session struct {
	u       *Uploader
	conn    net.Conn
	br      *bufio.Reader
	ip      netip.Addr
	hasSlot bool
	// slotFrom and slotAsked: when the slot was last judged (slotIdle),
	// and the body bytes asked for since.
	slotFrom  time.Time
	slotAsked int64
	buf       []byte // response head, reused

	opts    ConnOptions
	counted bool // holds a place in u.sessions; under its lock
	evicted bool // closed for a newcomer while idle; under its lock

	featuresSent bool // X-Features went out on this connection
}

// request is a parsed request head.
type request struct {
	method string
	target string
	keep   bool // the client wants the connection kept open
	h      *wire.Handshake
}

// reply is one response under construction.
type reply struct {
	status int
	reason string
	file   *File  // known file: URN, type, Last-Modified, X-Alt
	tree   []byte // the DIME body of a /uri-res/N2X reply
	rng    *byteRange
	length int64 // Content-Length; -1 for none
	close  bool
	retry  time.Duration

	ctype, encoding string // for a reply that is not a file: browse host

	queue       *QueueStatus // the place of a 503 Queued, for a client that queues
	legacyQueue bool         // tell it in X-Queue (Active Queueing), not X-Queued
}

// serveOne reads and answers one request. keep reports whether the
// connection stays open for another.
func (s *session) serveOne(first bool) (keep bool, err error) {
	cfg := &s.u.cfg
	if !first {
		// Keep-alive: wait for the next request's first byte. The
		// deadline is set before the session may be evicted, so that the
		// eviction's deadline is the one that holds.
		_ = s.conn.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		s.u.sessions.waiting(s)
		_, err := s.br.Peek(1)
		if !s.u.sessions.working(s) {
			return false, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil
			}
			return false, fmt.Errorf("upload: waiting for request: %w", err)
		}
	}
	_ = s.conn.SetReadDeadline(s.headDeadline(first))
	h, err := readHead(s.br)
	s.firstHeadRead()
	_ = s.conn.SetReadDeadline(time.Time{})
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return false, nil
	case errors.Is(err, ErrHeaderTooLarge):
		return false, s.errorReply(431, "Request Header Fields Too Large", err)
	case errors.Is(err, ErrMalformed):
		return false, s.errorReply(400, "Bad Request", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, s.errorReply(408, "Request Timeout", err)
	default:
		return false, fmt.Errorf("upload: reading request: %w", err)
	}
	req, status, err := parseRequest(h)
	if err != nil {
		return false, s.errorReply(status, statusText(status), err)
	}
	if req.target == "/" && s.u.cfg.Browser != nil {
		return false, s.serveBrowse(req)
	}
	rep := s.answer(req)
	if err := s.send(req, rep); err != nil {
		return false, err
	}
	return req.keep && !rep.close, nil
}

// errorReply answers a request we could not read and ends the connection;
// it returns cause so the servent can count why.
func (s *session) errorReply(status int, reason string, cause error) error {
	rep := &reply{status: status, reason: reason, length: 0, close: true}
	if err := s.send(&request{method: "GET"}, rep); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("upload: %d: %w", status, cause)
}

func parseRequest(h *wire.Handshake) (*request, int, error) {
	start := h.StartLine
	// The method ends at the first space and the version starts after the
	// last: the target between them may hold spaces, because old servents
	// send file names as they are, and the 0.6 draft asks that such
	// requests be accepted (section 4.1). gtk-gnutella reads them so too
	// (src/core/uploads.c, remove_trailing_http_tag). The target is still
	// checked as any other: escapes, path elements, the file's name.
	method, rest, ok1 := strings.Cut(start, " ")
	i := strings.LastIndexByte(rest, ' ')
	if !ok1 || i < 0 {
		return nil, 400, fmt.Errorf("%w: request line %q", ErrMalformed, clip([]byte(start)))
	}
	target, proto := rest[:i], rest[i+1:]
	if target == "" || target[0] == ' ' || target[len(target)-1] == ' ' {
		return nil, 400, fmt.Errorf("%w: request line %q", ErrMalformed, clip([]byte(start)))
	}
	var minor int
	switch proto {
	case "HTTP/1.0":
		minor = 0
	case "HTTP/1.1":
		minor = 1
	default:
		if strings.HasPrefix(proto, "HTTP/") {
			return nil, 505, fmt.Errorf("%w: version %q", ErrMalformed, clip([]byte(proto)))
		}
		return nil, 400, fmt.Errorf("%w: request line %q", ErrMalformed, clip([]byte(start)))
	}
	if method != "GET" && method != "HEAD" {
		return nil, 501, fmt.Errorf("%w: method %q", ErrMalformed, clip([]byte(method)))
	}
	// We never read request bodies, so one would be taken for the next
	// request: refuse it.
	if v, ok := h.Get("Content-Length"); (ok && v != "0") || len(h.Values("Transfer-Encoding")) > 0 {
		return nil, 400, fmt.Errorf("%w: request with a body", ErrMalformed)
	}
	if len(h.Values("Range")) > 1 {
		return nil, 400, fmt.Errorf("%w: several Range headers", ErrMalformed)
	}
	keep := minor == 1 && !h.HasToken("Connection", "close") ||
		minor == 0 && h.HasToken("Connection", "keep-alive")
	return &request{method: method, target: target, keep: keep, h: h}, 0, nil
}

// answer decides the reply to req; the body, if any, is sent by send.
func (s *session) answer(req *request) *reply {
	f, n2x, status, err := s.resolve(req.target)
	if err != nil {
		// A bad path is a broken client: close. An unknown file is routine.
		return &reply{status: status, reason: statusText(status), length: 0, close: status == 400}
	}
	if n2x {
		// The tree is small and served whole, without an upload slot, as
		// gtk-gnutella does (a Range is ignored).
		t, ok := s.tree(f)
		if !ok {
			return &reply{status: 404, reason: statusText(404), length: 0}
		}
		b := t.AppendDIME(nil)
		return &reply{status: 200, reason: "OK", tree: b, length: int64(len(b))}
	}
	if f.SHA1 != (wire.SHA1{}) {
		s.learnAltLocs(f.SHA1, req.h)
	}
	rep := &reply{status: 200, reason: "OK", file: &f, length: f.Size}
	if v, ok := req.h.Get("Range"); ok {
		r, ok, err := parseRange(v, f.Size)
		switch {
		case errors.Is(err, errRangeUnsatisfiable):
			rep.status, rep.reason, rep.length = 416, statusText(416), 0
			return rep
		case err != nil:
			rep.status, rep.reason, rep.length, rep.close = 400, "Bad Request: "+err.Error(), 0, true
			return rep
		case ok:
			rep.status, rep.reason, rep.rng, rep.length = 206, "Partial Content", &r, r.length()
		}
	}
	if req.method == "GET" {
		s.admitGET(req, rep)
	}
	return rep
}

// tree returns f's Tiger tree, when the library has it for f's size.
func (s *session) tree(f File) (*thex.Tree, bool) {
	if !f.HasTTH {
		return nil, false
	}
	t, ok := s.u.cfg.Library.Tree(f.TTH)
	if !ok || t.Size != f.Size {
		return nil, false
	}
	return t, true
}

// resolve maps a request target to a shared file, and says whether the
// target asks for its THEX tree (/uri-res/N2X). Names in the target are
// only compared with the library's names, never opened, but anything that
// looks like a path is refused outright.
func (s *session) resolve(target string) (File, bool, int, error) {
	lib := s.u.cfg.Library
	if rest, ok := strings.CutPrefix(target, "/get/"); ok {
		rest, _, _ = strings.Cut(rest, "?")
		idx, name, ok := strings.Cut(rest, "/")
		i, good := parseDigits(idx)
		if !ok || !good || i > 1<<32-1 {
			return File{}, false, 400, fmt.Errorf("%w: target %q", ErrMalformed, clip([]byte(target)))
		}
		name = strings.TrimSuffix(name, "/") // the Clip2 form ends in a slash
		name, err := url.PathUnescape(name)
		if err != nil || !safeName(name) {
			return File{}, false, 400, fmt.Errorf("%w: file name in %q", ErrMalformed, clip([]byte(target)))
		}
		f, ok := lib.ByIndex(uint32(i))
		if !ok || f.Name != name {
			return File{}, false, 404, fmt.Errorf("no file %d %q", i, name)
		}
		return f, false, 0, nil
	}
	if rest, ok := strings.CutPrefix(target, "/uri-res/"); ok {
		service, urn, _ := strings.Cut(rest, "?")
		n2x := strings.EqualFold(service, "N2X")
		if !n2x && !strings.EqualFold(service, "N2R") {
			return File{}, false, 404, fmt.Errorf("uri-res service %q", clip([]byte(service)))
		}
		d, err := wire.ParseURN(urn)
		if err != nil {
			return File{}, false, 400, fmt.Errorf("uri-res: %w", err)
		}
		f, ok := lib.BySHA1(d)
		if !ok {
			return File{}, false, 404, fmt.Errorf("no file %s", d)
		}
		return f, n2x, 0, nil
	}
	if !strings.HasPrefix(target, "/") {
		return File{}, false, 400, fmt.Errorf("%w: target %q", ErrMalformed, clip([]byte(target)))
	}
	return File{}, false, 404, fmt.Errorf("no resource %q", clip([]byte(target)))
}

// safeName reports whether name is one plain path element.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// send writes rep's head and, for a GET of a 200 or 206, the body.
func (s *session) send(req *request, rep *reply) error {
	var f *os.File
	if req.method == "GET" && rep.file != nil && (rep.status == 200 || rep.status == 206) {
		var err error
		if f, err = openShared(rep.file); err != nil {
			rep.status, rep.reason, rep.rng, rep.length = 404, statusText(404), nil, 0
		} else {
			defer f.Close()
		}
	}
	keep := req.keep && !rep.close
	s.buf = s.appendHead(s.buf[:0], req, rep, keep)
	if req.method == "GET" && rep.tree != nil {
		s.buf = append(s.buf, rep.tree...)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.u.cfg.SlowUploadTime))
	if _, err := s.conn.Write(s.buf); err != nil {
		return fmt.Errorf("upload: writing reply head: %w", err)
	}
	if f == nil || rep.status == 404 {
		return nil
	}
	var off int64
	if rep.rng != nil {
		off = rep.rng.start
	}
	return s.trackBody(rep.file, off, rep.length, func(sent func(int64)) error {
		return s.sendBody(f, rep.file.Name, off, rep.length, sent)
	})
}

// openShared opens a library file and checks that it still has the size
// the library (and the URN) describes.
func openShared(file *File) (*os.File, error) {
	f, err := os.Open(file.Path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != file.Size {
		f.Close()
		return nil, fmt.Errorf("%s changed on disk", file.Path)
	}
	return f, nil
}
