package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/servent/library"
	"github.com/govent/govent/wire"
)

const (
	// givTimeout is how long a download waits for the GIV a Push asks for.
	givTimeout = 20 * time.Second
	// maxPushAnswers bounds the GIV connections we open at once for Pushes.
	maxPushAnswers = 8
	// A Push names the address we connect to, and nothing proves it is
	// the sender's: we answer at most pushAnswersPerAddr Pushes naming one
	// address in a pushAnswerWindow, so that a flood cannot make us
	// hammer a victim (gtk-gnutella's PUSH_REPLY_MAX and PUSH_REPLY_FREQ,
	// src/core/uploads.c).
	pushAnswersPerAddr = 5
	pushAnswerWindow   = 30 * time.Second
	// pushTTL is the TTL of our own Pushes.
	pushTTL = 7
	// directDialTimeout is how long we try a source directly before we
	// fall back to a Push.
	directDialTimeout = 5 * time.Second
)

var (
	// errNoPushRoute: no link a QueryHit from the source came on (an
	// out-of-band hit comes on none, and a path goes when a link does).
	errNoPushRoute = errors.New("no route for a Push to")
	// errNoProxies: neither the source (X-Falt, magnet) nor a QueryHit of
	// it listed a push proxy.
	errNoProxies  = errors.New("it lists no push proxy")
	errGIVTimeout = errors.New("no GIV arrived for our Push")
	// errBothBehind is an httpxfer.ErrUnreachable: no retry helps.
	errBothBehind error = unreachable{errors.New("we and the source are both firewalled")}
)

// unreachable is an error that no try of the source can mend.
type unreachable struct{ error }

func (u unreachable) Is(target error) bool { return target == httpxfer.ErrUnreachable }
func (u unreachable) Unwrap() error        { return u.error }

// bothBehindNoRelay is errBothBehind and errNoRelay, in one clause.
type bothBehindNoRelay struct{}

func (bothBehindNoRelay) Error() string {
	return errBothBehind.Error() + ", and no ultrapeer of ours relays (X-Govent-Relay)"
}
func (bothBehindNoRelay) Unwrap() []error { return []error{errBothBehind, errNoRelay} }

// transfers joins the servent to httpxfer: it serves uploads (direct and
// after a Push), and dials sources for downloads, through a Push and a GIV
// when the source is firewalled.
type transfers struct {
	s       *Servent
	up      *httpxfer.Uploader
	down    *httpxfer.Downloader
	downDir string

	mu       sync.Mutex
	waiting  map[wire.GUID][]chan net.Conn // Pushes we sent, by servent GUID
	pushRate sourceRate                    // Pushes answered, by the address they name

	mesh      *httpxfer.Mesh // alternate locations, for uploads and downloads
	pushSlots chan struct{}
	uploads   atomic.Uint64 // uploads started, for the QHD "has uploaded" flag

	px    pushProxy // push proxies, ours and those we are (pushproxy.go)
	relay *relay    // relay slots, offered and asked for (relay.go)
	// tlsHosts are the hosts known to take TLS, from their X-Features,
	// QueryHits and Pongs: downloads dial them with TLS (httpxfer/tlsdial.go).
	tlsHosts *httpxfer.TLSHosts
}

func newTransfers(s *Servent) *transfers {
	t := &transfers{s: s, waiting: map[wire.GUID][]chan net.Conn{}, pushSlots: make(chan struct{}, maxPushAnswers),
		pushRate: sourceRate{limit: pushAnswersPerAddr, span: pushAnswerWindow, counts: map[netip.Addr]int{}},
		px:       newPushProxy(), relay: newRelay(s), mesh: httpxfer.NewMesh(0), tlsHosts: httpxfer.NewTLSHosts()}
	var features string
	if s.tlsConf != nil {
		// We take TLS on the listening port (servent/tls.go).
		features = tlsFeature
	}
	t.up = httpxfer.NewUploader(httpxfer.UploaderConfig{
		Library:          libraryAdapter{s.lib},
		Browser:          browser{s},
		Mesh:             t.mesh,
		Server:           UserAgent,
		Features:         features,
		MaxUploads:       s.cfg.MaxUploads,
		MaxUploadsPerIP:  s.cfg.MaxUploadsPerIP,
		MaxQueue:         s.cfg.MaxUploadQueue,
		MaxSessions:      s.cfg.MaxHTTPSessions,
		MaxSessionsPerIP: s.cfg.MaxHTTPSessionsPerIP,
		PushProxies: func() []netip.AddrPort {
			if !s.cfg.Firewalled {
				return nil
			}
			return s.ownProxies()
		},
		OnUpload: s.logUpload,
	})
	dir := s.cfg.DownloadDir
	if dir == "" && s.cfg.DataDir != "" {
		dir = filepath.Join(s.cfg.DataDir, "downloads")
	}
	if dir != "" {
		t.downDir = dir
		t.down = httpxfer.NewDownloader(httpxfer.DownloaderConfig{Dir: dir, Dialer: t, UserAgent: UserAgent, Node: t.node, Mesh: t.mesh, TLSHosts: t.tlsHosts})
	}
	return t
}

// node is the X-Node of our download requests: where an uploader that
// queued us may call back with QUEUE; none when we are firewalled.
func (t *transfers) node() netip.AddrPort {
	if t.s.cfg.Firewalled || t.s.cfg.NoListen {
		return netip.AddrPort{}
	}
	return t.s.advertised()
}

// acceptQueue takes a QUEUE callback (PARQ) from an uploader that queued
// one of our downloads and hands the connection to that download, which
// sends its GET on it.
func (s *Servent) acceptQueue(nc net.Conn, br *bufio.Reader, endFirstPhase func() bool) {
	cb, err := httpxfer.ReadQueueCallback(br)
	if err != nil {
		s.rateLog("bad QUEUE line", nc, err)
		nc.Close()
		return
	}
	if br.Buffered() > 0 {
		s.rateLog("QUEUE followed by unexpected bytes", nc, fmt.Errorf("%d bytes", br.Buffered()))
		nc.Close()
		return
	}
	if !endFirstPhase() {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if s.xfer.down == nil || !s.xfer.down.QueueCallback(cb.ID, nc) {
		s.rateLog("QUEUE for no queued download", nc, fmt.Errorf("ID %s from %s", cb.ID, cb.Addr))
		nc.Close()
	}
}

// busy reports whether every upload slot is taken (the QHD busy flag).
func (t *transfers) busy() bool { return t.up.ActiveUploads() >= t.s.cfg.MaxUploads }

// uploaded reports whether we have served an upload (the QHD flag).
func (t *transfers) uploaded() bool { return t.uploads.Load() > 0 }

// libraryAdapter shows the shared library to the uploader.
type libraryAdapter struct{ lib *library.Library }

func toXferFile(f library.File) httpxfer.File {
	return httpxfer.File{Index: f.Index, Name: f.Name, Size: f.Size, SHA1: f.SHA1, TTH: f.TTH, HasTTH: f.HasTTH, Path: f.Path, ModTime: f.ModTime}
}

func (a libraryAdapter) ByIndex(i uint32) (httpxfer.File, bool) {
	if a.lib == nil {
		return httpxfer.File{}, false
	}
	f, ok := a.lib.ByIndex(i)
	return toXferFile(f), ok
}

func (a libraryAdapter) BySHA1(d wire.SHA1) (httpxfer.File, bool) {
	if a.lib == nil {
		return httpxfer.File{}, false
	}
	f, ok := a.lib.BySHA1(d)
	return toXferFile(f), ok
}

// Tree returns a tree from the library's tree cache.
func (a libraryAdapter) Tree(root wire.TTH) (*thex.Tree, bool) {
	if a.lib == nil {
		return nil, false
	}
	return a.lib.Tree(root)
}

// serveHTTP serves uploads on a connection that sent GET or HEAD. Its first
// request head must arrive by firstBy; endFirstPhase is called once it has,
// and from then on the session counts against the uploader's limits.
func (s *Servent) serveHTTP(nc net.Conn, br *bufio.Reader, firstBy time.Time, endFirstPhase func()) {
	if isPushProxyRequest(br) {
		s.servePushProxy(nc, br)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.xfer.uploads.Add(1)
	opts := httpxfer.ConnOptions{FirstHeadBy: firstBy, FirstHeadRead: endFirstPhase}
	switch err := s.xfer.up.ServeConnWith(s.ctx, nc, br, opts); {
	case errors.Is(err, httpxfer.ErrTooManySessions):
		s.rateLog("HTTP session refused", nc, err)
	case err != nil:
		s.rateLog("upload connection", nc, err)
	}
}

// acceptGIV takes a GIV that answers one of our Pushes and hands the
// connection to the download waiting for it. Only the servent GUID is
// trusted: the index and name in a GIV are the sender's word.
func (s *Servent) acceptGIV(nc net.Conn, br *bufio.Reader, endFirstPhase func() bool) {
	giv, err := httpxfer.ReadGIV(br)
	if err != nil {
		s.rateLog("bad GIV", nc, err)
		nc.Close()
		return
	}
	if br.Buffered() > 0 {
		// The uploader must wait for our GET; bytes before it are a
		// protocol error.
		s.rateLog("GIV followed by unexpected bytes", nc, fmt.Errorf("%d bytes", br.Buffered()))
		nc.Close()
		return
	}
	if !endFirstPhase() {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	// A relay slot names the GIV's GUID and index exactly; our own Pushes
	// only the GUID.
	if !s.xfer.relay.matchGIV(giv, nc) && !s.xfer.deliverGIV(giv.ServentGUID, nc) {
		s.xfer.relay.stats.strayGIV.Add(1)
		s.rateLog("GIV with no pending Push", nc, fmt.Errorf("servent %s", giv.ServentGUID))
		nc.Close()
	}
}

func (t *transfers) deliverGIV(g wire.GUID, nc net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ch := range t.waiting[g] {
		select {
		case ch <- nc:
			t.waiting[g] = append(t.waiting[g][:i], t.waiting[g][i+1:]...)
			if len(t.waiting[g]) == 0 {
				delete(t.waiting, g)
			}
			return true
		default:
		}
	}
	return false
}

// handlePush answers a Push for us: connect to the address in it, send the
// GIV, then serve the GET that follows on that connection.
func (t *transfers) handlePush(p wire.Push) {
	s := t.s
	if p.ServentGUID != s.guid {
		return
	}
	addr := p.AddrPort()
	if !addr.IsValid() || addr.Port() == 0 || addr.Addr().IsUnspecified() || addr.Addr().IsMulticast() {
		return
	}
	t.mu.Lock()
	allowed := t.pushRate.allow(addr.Addr(), time.Now())
	t.mu.Unlock()
	if !allowed {
		s.limited.Log(zapcore.InfoLevel, "Push over budget", "Push not answered: too many Pushes named that address lately",
			zap.Stringer("addr", addr), zap.Int("per_window", pushAnswersPerAddr), zap.Duration("window", pushAnswerWindow))
		return
	}
	select {
	case t.pushSlots <- struct{}{}:
	default:
		return // too many Push answers in flight: a flood, not a user
	}
	name := "file"
	if f, ok := (libraryAdapter{s.lib}).ByIndex(p.Index); ok {
		name = f.Name
	}
	s.emit(Event{Kind: EventPush, Peer: addr, Detail: name})
	// GGEP "TLS" in the Push asks for the GIV over TLS, as gtk-gnutella's
	// downloads do (uploads.c). Read now: p's bytes are the reader's.
	wantTLS := hasTLS(&p.GGEP)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-t.pushSlots }()
		// Only the Push's word counts, not the TLS cache: its address
		// may be a relay's, which splices our bytes to the requester.
		// Plain once more if the TLS handshake fails.
		nc, err := t.dialTLSOrPlain(s.ctx, addr, wantTLS, nil)
		if err != nil {
			s.limited.Log(zapcore.InfoLevel, "Push unreachable", "Push: cannot reach the requester", zap.Stringer("addr", addr), zap.Error(err))
			return
		}
		giv, err := httpxfer.AppendGIV(nil, httpxfer.GIV{Index: p.Index, ServentGUID: s.guid, Name: name})
		if err == nil {
			_ = nc.SetWriteDeadline(time.Now().Add(directDialTimeout))
			_, err = nc.Write(giv)
			_ = nc.SetWriteDeadline(time.Time{})
		}
		if err != nil {
			nc.Close()
			return
		}
		t.uploads.Add(1)
		s.limited.Log(zapcore.InfoLevel, "Push answered", "Push answered: GIV sent", zap.Stringer("requester", addr), zap.String("file", name))
		if err := t.up.ServeConn(s.ctx, nc, nil); err != nil {
			s.log.Info("Push upload ended", zap.Stringer("addr", addr), zap.Error(err))
		}
	}()
}

// DialSource implements httpxfer.Dialer: a direct connection where that
// works, else the firewalled source is asked to connect: to us, when we can
// be connected to, or to a relay slot of one of our ultrapeers when we are
// firewalled too (relay.go).
func (t *transfers) DialSource(ctx context.Context, src httpxfer.Source) (net.Conn, error) {
	if !src.Push && src.Addr.IsValid() {
		nc, err := t.dialTLSOrPlain(ctx, src.Addr, src.TLS, t.tlsHosts)
		if err == nil || src.ServentGUID.IsZero() {
			return nc, err
		}
	}
	if t.s.cfg.Firewalled {
		return t.viaRelay(ctx, src)
	}
	ch := make(chan net.Conn, 1)
	t.mu.Lock()
	t.waiting[src.ServentGUID] = append(t.waiting[src.ServentGUID], ch)
	t.mu.Unlock()
	defer t.forget(src.ServentGUID, ch)
	return t.pushes(ctx, src, t.s.advertised(), src.Index, func() (net.Conn, error) {
		timer := time.NewTimer(givTimeout)
		defer timer.Stop()
		select {
		case nc := <-ch:
			return nc, nil
		case <-timer.C:
			return nil, errGIVTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// dialTLSOrPlain dials addr directly: with TLS first when TLS is on and
// the host takes it (wantTLS, unless hosts knows better), else, or when
// the TLS handshake fails, plain.
func (t *transfers) dialTLSOrPlain(ctx context.Context, addr netip.AddrPort, wantTLS bool, hosts *httpxfer.TLSHosts) (net.Conn, error) {
	dial := func(ctx context.Context) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, directDialTimeout)
		defer cancel()
		return t.s.cfg.Network.DialContext(dctx, "tcp", addr.String())
	}
	return httpxfer.DialTLSOrPlain(ctx, dial, addr, t.s.tlsConf, wantTLS, hosts, directDialTimeout)
}

// viaRelay fetches from a firewalled source while we are firewalled: a
// slot at a relaying ultrapeer of ours, a Push that sends the source there,
// and the relay's connection once the GIV came through it.
func (t *transfers) viaRelay(ctx context.Context, src httpxfer.Source) (net.Conn, error) {
	g, err := t.relay.ask(ctx, src.ServentGUID)
	if errors.Is(err, errNoRelay) {
		return nil, bothBehindNoRelay{}
	}
	if err != nil {
		return nil, fmt.Errorf("%w, and: %w", errBothBehind, err)
	}
	nc, br, err := t.relay.dialSlot(ctx, g)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	got, err := t.pushes(ctx, src, g.Relay, g.Index, func() (net.Conn, error) {
		_ = nc.SetReadDeadline(time.Now().Add(givTimeout))
		giv, err := httpxfer.ReadGIV(br)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			return nil, fmt.Errorf("relay %s: %w", g.Relay, err)
		case giv.ServentGUID != src.ServentGUID:
			return nil, fmt.Errorf("relay %s sent a GIV from %s, not %s", g.Relay, giv.ServentGUID, src.ServentGUID)
		case br.Buffered() > 0:
			return nil, fmt.Errorf("relay %s: %d bytes after the GIV", g.Relay, br.Buffered())
		}
		_ = nc.SetReadDeadline(time.Time{})
		return nc, nil
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return got, nil
}

// pushes asks the firewalled src to connect to to and waits for the
// connection: first through each push proxy its QueryHits listed (over
// HTTP, so no route is needed), then with a Push routed along the path of
// its QueryHit. wait returns the connection that the GIV opened.
func (t *transfers) pushes(ctx context.Context, src httpxfer.Source, to netip.AddrPort, index uint32, wait func() (net.Conn, error)) (net.Conn, error) {
	if !usableAddr(to) || !to.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("%w: we have no address a Push could carry", errBothBehind)
	}
	var errs []error
	proxies := t.proxiesOf(src)
	if len(proxies) == 0 {
		errs = append(errs, errNoProxies)
	} else {
		var sent bool
		for _, p := range proxies {
			err := t.s.askProxy(ctx, p, src.ServentGUID, index, to)
			if err == nil {
				sent = true
				break
			}
			t.px.stats.failed.Add(1)
			errs = append(errs, err)
		}
		if sent {
			nc, err := wait()
			if err == nil {
				return nc, nil
			}
			errs = append(errs, fmt.Errorf("after a push proxy: %w", err))
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := t.routePush(src, to, index); err != nil {
		errs = append(errs, err)
	} else {
		nc, err := wait()
		if err == nil {
			return nc, nil
		}
		errs = append(errs, fmt.Errorf("after a routed Push: %w", err))
	}
	return nil, fmt.Errorf("firewalled source %s unreachable: %w", src.ServentGUID, joinErrors(errs))
}

// joinErrors is errors.Join said on one line, "a; b" (a user reads an
// error as one line, as search's "no peer could be reached: ..."); nil
// for none, and errors.Is and As see each.
func joinErrors(errs []error) error {
	var joined joinedErrors
	for _, err := range errs {
		if err != nil {
			joined = append(joined, err)
		}
	}
	if len(joined) == 0 {
		return nil
	}
	return joined
}

type joinedErrors []error

func (e joinedErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e joinedErrors) Unwrap() []error { return e }

// routePush sends a Push to src along the route its QueryHit came by.
func (t *transfers) routePush(src httpxfer.Source, to netip.AddrPort, index uint32) error {
	s := t.s
	peer, ok := s.router.PushRoute(src.ServentGUID)
	c := s.connByID(peer)
	if !ok || c == nil {
		return fmt.Errorf("%w %s (its hits came out of band, or their path is gone)", errNoPushRoute, src.ServentGUID)
	}
	m := wire.Message{
		Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePush, TTL: pushTTL},
		Push:   wire.Push{ServentGUID: src.ServentGUID, Index: index, Addr: to.Addr().Unmap(), Port: to.Port()},
	}
	s.pushWithTLS(&m.Push, to)
	b, err := m.Append(nil)
	if err != nil {
		return fmt.Errorf("encoding Push: %w", err)
	}
	if !c.enqueue(b, true) {
		return fmt.Errorf("%w %s: the queue of its link is full", errNoPushRoute, src.ServentGUID)
	}
	return nil
}

// forget removes a waiter; a GIV that raced in after it gave up is closed.
func (t *transfers) forget(g wire.GUID, ch chan net.Conn) {
	t.mu.Lock()
	list := t.waiting[g]
	for i, c := range list {
		if c == ch {
			t.waiting[g] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(t.waiting[g]) == 0 {
		delete(t.waiting, g)
	}
	t.mu.Unlock()
	select {
	case nc := <-ch:
		nc.Close()
	default:
	}
}

// Download fetches a file into the download directory (DownloadDir, or
// DataDir/downloads), verifying its SHA-1 when known.
func (s *Servent) Download(ctx context.Context, req httpxfer.Request) (httpxfer.Result, error) {
	if s.xfer.down == nil {
		return httpxfer.Result{}, errors.New("no download directory (set DownloadDir or DataDir)")
	}
	if err := os.MkdirAll(s.xfer.downDir, 0o755); err != nil {
		return httpxfer.Result{}, fmt.Errorf("download directory: %w", err)
	}
	s.learnPushRoutes(ctx, req)
	if req.SHA1 != (wire.SHA1{}) {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go research(rctx, req.SHA1, s.cfg.ResearchInterval, s.Search, func(srcs ...httpxfer.Source) {
			for _, src := range srcs {
				if !src.Push {
					s.xfer.mesh.Add(req.SHA1, src.Addr)
				}
			}
			s.xfer.down.AddSources(req.SHA1, srcs...)
		})
	}
	return s.xfer.down.Download(ctx, req)
}

// SourceOf turns a search result into a download source.
func SourceOf(r Result) httpxfer.Source {
	return httpxfer.Source{Addr: r.Addr, Push: r.Push, ServentGUID: r.ServentGUID, Index: r.Index, Name: r.Name, TLS: r.TLS,
		Speed: r.Speed, Proxies: slices.Clone(r.Proxies)}
}

// DiscardDownload removes the .part and state file an unfinished download
// of name left, for a download that is cancelled rather than paused.
func (s *Servent) DiscardDownload(name string) error {
	if s.xfer.down == nil {
		return nil
	}
	return s.xfer.down.Discard(name)
}

// Uploads lists the file bodies being sent now, with their progress.
func (s *Servent) Uploads() []httpxfer.UploadProgress { return s.xfer.up.Uploads() }

// ActiveUploads is the number of upload slots in use.
func (s *Servent) ActiveUploads() int { return s.xfer.up.ActiveUploads() }

// RequestOf turns a search result into a download request from that one
// source, with the Tiger root when the hit gave a bitprint. The root is
// not RootNamed: only the hit vouches for it, and a poisoned hit could
// pair a popular SHA-1 with another file's root, so the SHA-1 is checked
// at the end too (the file then matches its tree but not its SHA-1).
func RequestOf(r Result) httpxfer.Request {
	req := httpxfer.Request{Name: r.Name, Size: int64(r.Size), Sources: []httpxfer.Source{SourceOf(r)}}
	if r.HasSHA1 {
		req.SHA1 = r.SHA1
		req.TTH, req.HasTTH = r.TTH, r.HasTTH
	}
	return req
}
