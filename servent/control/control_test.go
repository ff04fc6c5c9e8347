package control

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/smallfile"
)

// TestTokenRequired: without the token, or with a wrong one, every path is
// 401 and says nothing; the token from the file opens them.
func TestTokenRequired(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	for _, path := range []string{"/v1/status", "/v1/peers", "/metrics", "/v1/transfers", "/nowhere"} {
		for _, auth := range []string{"", "Bearer ", "Bearer " + strings.Repeat("0", 64), "Basic " + d.token, d.token} {
			resp := rawGet(t, d.addr, path, auth)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s with %q", path, auth)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
		}
	}
	resp := rawGet(t, d.addr, "/v1/status", "Bearer "+d.token)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, err := NewClient(d.addr, strings.Repeat("1", 64)).Status(context.Background())
	assert.ErrorIs(t, err, ErrUnauthorized)
	_, err = NewClient("127.0.0.1:1", d.token).Status(context.Background())
	assert.ErrorIs(t, err, ErrNoDaemon)
}

// TestTokenFile: created 0600 once and kept across restarts; a file that
// others may read is refused, as is a link or a file with no token.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok, err := LoadOrCreateToken(dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := LoadOrCreateToken(dir)
	require.NoError(t, err)
	assert.Equal(t, tok, again, "a restarted daemon keeps its token")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temporary file left")

	require.NoError(t, os.Chmod(filepath.Join(dir, TokenFile), 0o644))
	_, err = ReadToken(dir)
	assert.ErrorIs(t, err, ErrTokenPerm)
	_, err = LoadOrCreateToken(dir)
	assert.ErrorIs(t, err, ErrTokenPerm, "the daemon refuses it too")

	other := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(dir, TokenFile), filepath.Join(other, TokenFile)))
	_, err = ReadToken(other)
	assert.ErrorContains(t, err, "not a regular file")

	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, TokenFile), []byte("\n"), 0o600))
	_, err = ReadToken(empty)
	assert.ErrorContains(t, err, "holds no token")
	_, err = ReadToken(t.TempDir())
	assert.ErrorIs(t, err, ErrNoToken)

	long := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(long, TokenFile), []byte(tok+strings.Repeat(" ", maxSmallFile)), 0o600))
	_, err = ReadToken(long)
	assert.ErrorIs(t, err, smallfile.ErrTooLarge, "read no further than 1 KiB")
	assert.ErrorContains(t, err, filepath.Join(long, TokenFile)+": over 1024 bytes")
}

// TestAddrFileBounded: the address file is read no further than 1 KiB.
func TestAddrFileBounded(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteAddr(dir, "127.0.0.1:6347"))
	addr, err := ReadAddr(dir)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6347", addr)
	require.NoError(t, os.WriteFile(filepath.Join(dir, AddrFile), []byte("127.0.0.1:6347"+strings.Repeat(" ", maxSmallFile)), 0o600))
	_, err = ReadAddr(dir)
	assert.ErrorIs(t, err, smallfile.ErrTooLarge)
}

// TestLimits: oversized and malformed bodies, unknown fields, and searches
// past the bounds are refused with 4xx; a fifth stream waits for none.
func TestLimits(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	post := func(path, body string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 400, post("/v1/searches", `{"query": "`+strings.Repeat("a", MaxBodyBytes)+`"}`))
	assert.Equal(t, 400, post("/v1/searches", `{"query": "x", "bogus": 1}`))
	assert.Equal(t, 400, post("/v1/searches", `{"query": "x", "timeout_ms": 99999999}`))
	assert.Equal(t, 400, post("/v1/searches", `{"query": "x", "max_results": 100000}`))
	assert.Equal(t, 400, post("/v1/searches", `{"query": ""}`))
	assert.Equal(t, 400, post("/v1/downloads", `{"urn": "urn:sha1:nope", "sources": [{"addr": "127.0.0.1:1"}]}`))
	assert.Equal(t, 400, post("/v1/downloads", `{"urn": "`+urnOf([]byte("x"))+`", "sources": []}`))
	assert.Equal(t, 404, post("/v1/downloads/nope/pause", ``))

	// MaxStreams searches at once; the next is told to come back.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range MaxStreams {
		go d.client.Search(ctx, SearchRequest{Query: "slow", TimeoutMS: 20000}, func(SearchResult) {})
	}
	waitFor(t, "the streams open", func() bool { return d.srv.streams.Load() == MaxStreams })
	assert.Equal(t, http.StatusTooManyRequests, post("/v1/searches", `{"query": "one more"}`))
	cancel()
	waitFor(t, "the streams closed with their clients", func() bool { return d.srv.streams.Load() == 0 })
}

// TestStatusPeersShares: what the daemon says about itself, its peer and
// its files agrees with the servent.
func TestStatusPeersShares(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShareDir = shareDir(t, map[string]string{"penguin song.ogg": "feathers", "walrus.txt": "tusks"})
	d := startDaemon(t, cfg)
	peer := startServent(t, testConfig(t))
	require.NoError(t, peer.Connect(d.s.Addr()))
	waitFor(t, "the peer", func() bool { return len(d.s.Peers()) == 1 })
	// The peer answers the daemon's connect-back request (GTKG/7): the
	// daemon is then reachable over UDP.
	waitFor(t, "UDP reachability", func() bool { return d.s.Stats().UDP.Reachable })
	ctx := context.Background()

	st, err := d.client.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ultrapeer", st.Role)
	assert.Equal(t, d.s.GUID().String(), st.GUID)
	assert.Equal(t, d.s.Addr().String(), st.Addr)
	assert.Equal(t, st.Addr, st.UDP, "UDP on the TCP port")
	assert.True(t, st.UDPReachable)
	assert.Equal(t, 1, st.Peers)
	assert.Equal(t, 1, st.Ultrapeers)
	assert.Equal(t, 2, st.Files)
	assert.Positive(t, st.UptimeSec)

	var p Peer
	waitFor(t, "the link's first descriptors counted", func() bool {
		peers, err := d.client.Peers(ctx)
		require.NoError(t, err)
		require.Len(t, peers, 1)
		p = peers[0]
		return sum(p.MessagesIn) > 0 && sum(p.BytesIn) >= 23*sum(p.MessagesIn)
	})
	assert.Equal(t, "ultrapeer", p.Role)
	assert.Contains(t, p.UserAgent, "Govent")
	assert.False(t, p.Outgoing)

	sh, err := d.client.Shares(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, sh.Files)
	assert.Equal(t, int64(len("feathers")+len("tusks")), sh.Bytes)
	assert.Equal(t, 0, sh.Pending)
	require.Len(t, sh.List, 2)
	assert.Equal(t, "penguin song.ogg", sh.List[0].Name)
	assert.Equal(t, urnOf([]byte("feathers")), sh.List[0].URN)

	hosts, err := d.client.Hosts(ctx)
	require.NoError(t, err)
	assert.NotNil(t, hosts)
}

// scrape fetches /metrics and parses it with Prometheus's own parser.
func scrape(t *testing.T, d *daemon) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := d.client.Metrics(context.Background())
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err, "%s", b)
	return fams
}

// value is the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no family %s", name)
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// TestSearchStreamAndMetrics: a search through the daemon streams its
// result and ends with max_results; /metrics parses, and its counters move
// with the traffic the search made.
func TestSearchStreamAndMetrics(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	cfg := testConfig(t)
	cfg.ShareDir = shareDir(t, map[string]string{"penguin song.ogg": "feathers"})
	sharer := startServent(t, cfg)
	// The sharer two hops away, so that it answers out of band: the
	// daemon's neighbour answers its connect-back request (GTKG/7), and
	// the daemon, reachable over UDP, asks for out-of-band hits.
	mid := startServent(t, testConfig(t))
	require.NoError(t, mid.Connect(d.s.Addr()))
	require.NoError(t, sharer.Connect(mid.Addr()))
	waitFor(t, "the peers", func() bool { return len(d.s.Peers()) == 1 && len(mid.Peers()) == 2 })
	waitFor(t, "UDP reachability", func() bool { return d.s.Stats().UDP.Reachable })

	before := scrape(t, d)
	assert.Equal(t, 1.0, value(t, before, "govent_connections", map[string]string{"role": "ultrapeer"}))
	for _, name := range []string{"govent_descriptors_received_total", "govent_link_bytes_total", "govent_routing_drops_total",
		"govent_handshake_refusals_total", "govent_routing_table_entries", "govent_send_queue_drops_total", "govent_downloads",
		"govent_pending_evicted_total", "govent_useless_leaves_evicted_total"} {
		assert.Contains(t, before, name)
	}
	assert.Equal(t, dto.MetricType_COUNTER, before["govent_descriptors_received_total"].GetType())
	assert.GreaterOrEqual(t, len(before["govent_descriptors_received_total"].Metric), 10, "every known type, at 0 until seen")

	var got []SearchResult
	done, err := d.client.Search(context.Background(), SearchRequest{Query: "penguin", MaxResults: 1, TimeoutMS: 10000},
		func(r SearchResult) { got = append(got, r) })
	require.NoError(t, err)
	assert.Equal(t, SearchDone{Results: 1, Reason: "max_results"}, done)
	require.Len(t, got, 1)
	assert.Equal(t, "penguin song.ogg", got[0].Name)
	assert.Equal(t, urnOf([]byte("feathers")), got[0].URN)
	assert.Equal(t, uint8(1), got[0].Hops)
	assert.True(t, got[0].OOB, "out of band")
	assert.Equal(t, sharer.Addr().String(), got[0].Addr)

	after := scrape(t, d)
	for _, tr := range []string{"tcp", "udp"} {
		hits := map[string]string{"type": "queryhit", "transport": tr}
		want := value(t, before, "govent_descriptors_received_total", hits)
		if tr == "udp" {
			want++
		}
		assert.Equal(t, want, value(t, after, "govent_descriptors_received_total", hits), "the QueryHit is counted, over %s", tr)
	}
	claim := map[string]string{"type": "control", "transport": "udp"}
	assert.Greater(t, value(t, after, "govent_descriptors_sent_total", claim), value(t, before, "govent_descriptors_sent_total", claim), "our LIME/11 claim")
	assert.Positive(t, value(t, after, "govent_udp_datagrams_total", map[string]string{"direction": "in"}))
	assert.Equal(t, 1.0, value(t, after, "govent_oob_replies_total", map[string]string{"event": "hits_received"}))
	q := map[string]string{"type": "query", "transport": "tcp"}
	assert.Greater(t, value(t, after, "govent_descriptors_sent_total", q), value(t, before, "govent_descriptors_sent_total", q), "our Query is counted")
	assert.Greater(t, value(t, after, "govent_router_decisions_total", map[string]string{"outcome": "originated"}),
		value(t, before, "govent_router_decisions_total", map[string]string{"outcome": "originated"}), "our Query, originated")
	udpIn := map[string]string{"type": "queryhit", "transport": "udp"}
	assert.Greater(t, value(t, after, "govent_descriptors_received_bytes_total", udpIn), value(t, before, "govent_descriptors_received_bytes_total", udpIn))
	out := map[string]string{"direction": "out"}
	assert.Greater(t, value(t, after, "govent_link_bytes_total", out), value(t, before, "govent_link_bytes_total", out), "our Query, over the link")
	assert.Positive(t, value(t, after, "govent_routing_table_entries", map[string]string{"table": "queries"}))

	// A search nobody answers ends at its timeout.
	done, err = d.client.Search(context.Background(), SearchRequest{Query: "nothing matches this", TimeoutMS: 200}, func(SearchResult) {})
	require.NoError(t, err)
	assert.Equal(t, "timeout", done.Reason)
	assert.Zero(t, done.Results)
}

// TestShutdownEndsStreams: a search stream open when the daemon shuts down
// ends at once with reason "shutdown".
func TestShutdownEndsStreams(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	res := make(chan SearchDone, 1)
	go func() {
		done, _ := d.client.Search(context.Background(), SearchRequest{Query: "forever", TimeoutMS: 60000}, func(SearchResult) {})
		res <- done
	}()
	waitFor(t, "the stream", func() bool { return d.srv.streams.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, d.srv.Shutdown(ctx))
	select {
	case done := <-res:
		assert.Equal(t, "shutdown", done.Reason)
	case <-ctx.Done():
		t.Fatal("the stream held the shutdown")
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// TestConnectionLimit: MaxConns connections that say nothing hold every
// place; the next request waits until one goes.
func TestConnectionLimit(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	var idle []net.Conn
	for range MaxConns {
		nc, err := net.Dial("tcp", d.addr)
		require.NoError(t, err)
		idle = append(idle, nc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := d.client.Status(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "no place left")
	for _, nc := range idle {
		nc.Close()
	}
	_, err = d.client.Status(context.Background())
	assert.NoError(t, err)
}

// TestMetricsLint: every metric follows Prometheus's naming conventions,
// as its own linter checks them (units, _total on counters, no camel case).
func TestMetricsLint(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	problems, err := testutil.GatherAndLint(d.srv.reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}
