package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/internal/ratelimit"
)

// Limits of the API. A local client is trusted with the token, not with
// the daemon's memory: every request and stream is bounded.
const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 16 << 10
	// MaxStreams bounds the search streams open at once.
	MaxStreams = 4
	// DefaultSearchTimeout and MaxSearchTime bound one search stream.
	DefaultSearchTimeout = 10 * time.Second
	MaxSearchTime        = 2 * time.Minute
	// MaxResults bounds the results of one search stream.
	MaxResults = 1000
	// StreamIdle ends a search stream that brought nothing for this long.
	StreamIdle = 30 * time.Second
	// maxListed bounds the shared files one GET /v1/shares lists.
	maxListed = 10000
	// MaxConns bounds the connections served at once, token or not; more
	// wait in the listen queue.
	MaxConns = 32
	// tokenWarnInterval is the least time between two warnings of one
	// reason about requests without the token.
	tokenWarnInterval = 10 * time.Second
)

// Config configures a Server.
type Config struct {
	Servent *servent.Servent // required, started
	Token   string           // required: LoadOrCreateToken
	Queue   *Queue           // the download queue; nil: no downloads
	Logger  *zap.Logger      // nil: none
}

// Server is the control API of one servent.
type Server struct {
	cfg     Config
	s       *servent.Servent
	log     *zap.Logger
	warn    *ratelimit.Logger // the token warnings, as the servent limits its own
	reg     *prometheus.Registry
	mux     *http.ServeMux
	streams atomic.Int32
	hs      *http.Server
	// base is every request's context, cancelled by Shutdown so that
	// streams end instead of holding the shutdown up.
	base context.Context
	stop context.CancelFunc
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Servent == nil || cfg.Token == "" {
		return nil, errors.New("control: a Servent and a Token are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	srv := &Server{cfg: cfg, s: cfg.Servent, log: cfg.Logger, warn: ratelimit.NewLogger(cfg.Logger, tokenWarnInterval),
		reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	srv.reg.MustRegister(newCollector(cfg.Servent, cfg.Queue, &srv.streams))
	srv.routes()
	srv.base, srv.stop = context.WithCancel(context.Background())
	srv.hs = &http.Server{
		BaseContext:       func(net.Listener) context.Context { return srv.base },
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second, // bodies are small
		WriteTimeout:      30 * time.Second, // streams set a deadline per write instead
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          zap.NewStdLog(cfg.Logger.Named("http")),
	}
	return srv, nil
}

func (srv *Server) routes() {
	m := srv.mux
	m.HandleFunc("GET /v1/status", srv.status)
	m.HandleFunc("GET /v1/peers", srv.peers)
	m.HandleFunc("GET /v1/shares", srv.shares)
	m.HandleFunc("GET /v1/hosts", srv.hosts)
	m.HandleFunc("POST /v1/searches", srv.search)
	m.HandleFunc("GET /v1/transfers", srv.transfers)
	m.HandleFunc("POST /v1/downloads", srv.addDownload)
	m.HandleFunc("POST /v1/downloads/{id}/pause", srv.downloadOp((*Queue).Pause))
	m.HandleFunc("POST /v1/downloads/{id}/resume", srv.downloadOp((*Queue).Resume))
	m.HandleFunc("DELETE /v1/downloads/{id}", srv.downloadOp((*Queue).Cancel))
	// Scrapers send the token as a bearer token (Prometheus's
	// authorization or bearer_token_file settings), like every client.
	m.Handle("GET /metrics", promhttp.HandlerFor(srv.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 2, Timeout: 10 * time.Second,
	}))
}

// Serve answers on ln until Shutdown.
func (srv *Server) Serve(ln net.Listener) error {
	err := srv.hs.Serve(netutil.LimitListener(ln, MaxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends open streams and waits for the handlers, up to ctx.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.stop()
	return srv.hs.Shutdown(ctx)
}

// ServeHTTP checks the token, then routes.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !tokenOK(strings.TrimSpace(tok), srv.cfg.Token) {
		reason := "control request without a token"
		if ok {
			reason = "control request with a wrong token"
		}
		srv.warn.Log(zap.WarnLevel, reason, reason, zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
		w.Header().Set("WWW-Authenticate", `Bearer realm="govent"`)
		writeError(w, http.StatusUnauthorized, errors.New("a valid token is required (Authorization: Bearer, from the data directory's "+TokenFile+")"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	srv.mux.ServeHTTP(w, r)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	// State is the download's state, when a download verb is refused
	// for it (409).
	State string `json:"state,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: apiText(err)})
}

// readJSON decodes a bounded body, refusing unknown fields so that a typo
// in a client is an error, not a default.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (srv *Server) status(w http.ResponseWriter, _ *http.Request) {
	s := srv.s
	now := time.Now()
	st := Status{Role: roleOf(s.IsLeaf()), GUID: s.GUID().String(), UserAgent: servent.UserAgent,
		StartedAt: s.StartedAt(), UptimeSec: now.Sub(s.StartedAt()).Seconds(),
		Hosts: len(s.Hosts().Hosts()), Searches: int(srv.streams.Load()), Uploads: s.ActiveUploads()}
	if a := s.Addr(); a.IsValid() {
		st.Addr = a.String()
	}
	if u := s.Stats().UDP; u.Addr.IsValid() {
		st.UDP, st.UDPReachable = u.Addr.String(), u.Reachable
	}
	for _, p := range s.Peers() {
		st.Peers++
		switch peerRole(p) {
		case "leaf":
			st.Leaves++
		case "ultrapeer":
			st.Ultrapeers++
		default:
			st.Legacy++
		}
	}
	if lib := s.Library(); lib != nil {
		ls := lib.Stats()
		st.Files, st.Hashing = ls.Files, ls.Pending
	}
	if srv.cfg.Queue != nil {
		dls := srv.cfg.Queue.List()
		st.Downloads, st.DownloadStates = len(dls), CountStates(dls)
	}
	writeJSON(w, http.StatusOK, st)
}

func (srv *Server) peers(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	out := []Peer{}
	for _, p := range srv.s.Peers() {
		out = append(out, peerView(p, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) shares(w http.ResponseWriter, _ *http.Request) {
	sh := Shares{List: []SharedFile{}}
	if lib := srv.s.Library(); lib != nil {
		ls := lib.Stats()
		sh.Files, sh.Bytes, sh.Hashed, sh.Pending, sh.Unreadable = ls.Files, ls.Bytes, ls.Hashed, ls.Pending, ls.Unreadable
		for _, f := range lib.All() {
			if len(sh.List) == maxListed {
				sh.Truncated = true
				break
			}
			sh.List = append(sh.List, sharedFile(f))
		}
	}
	writeJSON(w, http.StatusOK, sh)
}

func (srv *Server) hosts(w http.ResponseWriter, _ *http.Request) {
	out := []Host{}
	for _, h := range srv.s.Hosts().Hosts() {
		out = append(out, hostView(h))
	}
	writeJSON(w, http.StatusOK, out)
}
