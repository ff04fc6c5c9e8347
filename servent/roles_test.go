package servent

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/router"
	"github.com/govent/govent/servent/hostcache"
	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
	"github.com/govent/govent/wire/linkzip"
)

// upConfig is a loopback ultrapeer with fast QRP aggregation and dynamic
// querying, so tests wait milliseconds, not the real intervals.
func upConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.QRPUpdateInterval = 20 * time.Millisecond
	cfg.DynamicQueryWait = 100 * time.Millisecond
	return cfg
}

// leafConfig is a loopback leaf sharing files.
func leafConfig(t testing.TB, files map[string]string) Config {
	cfg := testConfig(t)
	cfg.Mode = ModeLeaf
	if len(files) > 0 {
		cfg.ShareDir = shareDir(t, files)
	}
	return cfg
}

// connOf returns s's connection to the servent listening at addr.
func connOf(s *Servent, addr netip.AddrPort) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.peer.listen == addr || c.peer.remote == addr {
			return c
		}
	}
	return nil
}

// countIn sums the descriptors of type typ that arrived on s's connections.
func countIn(s *Servent, typ wire.PayloadType) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.conns {
		n += c.stats.inMsgs[typ].Load()
	}
	return n
}

// leafConnect is a CONNECT block as a minimal leaf sends it.
const leafConnect = "GNUTELLA CONNECT/0.6\r\nUser-Agent: RawLeaf/1.0\r\nX-Ultrapeer: False\r\nX-Query-Routing: 0.2\r\n\r\n"

func TestRoleHandshakes(t *testing.T) {
	tests := []struct {
		name       string
		mode       Mode
		maxLeaves  int
		leavesUp   int // raw leaves connected first
		connect    string
		wantCode   int
		wantUP     string // the answer's X-Ultrapeer
		wantKind   router.PeerKind
		wantTryHdr bool
	}{
		{name: "ultrapeer takes a leaf", connect: leafConnect, wantCode: 200, wantUP: "True", wantKind: router.Leaf},
		{name: "ultrapeer takes an ultrapeer as neighbour", connect: rawConnect(), wantCode: 200, wantUP: "True", wantKind: router.Neighbour},
		{name: "ultrapeer full of leaves refuses with 503 and hosts", maxLeaves: 1, leavesUp: 1, connect: leafConnect, wantCode: 503, wantTryHdr: true},
		{name: "leaf refuses a leaf", mode: ModeLeaf, connect: leafConnect, wantCode: 503, wantTryHdr: true},
		{name: "leaf takes an ultrapeer", mode: ModeLeaf, connect: rawConnect(), wantCode: 200, wantUP: "False", wantKind: router.Neighbour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Mode = tt.mode
				cfg.MaxLeaves = tt.maxLeaves
				s := startServent(t, cfg)
				require.NoError(t, s.Hosts().Add(netip.MustParseAddrPort("127.0.0.1:7777"), hostcache.SourcePong, true, time.Now()))
				for range tt.leavesUp {
					p := dialRaw(t, s.Addr())
					p.writeString(leafConnect)
					_, err := p.readBlock()
					require.NoError(t, err)
					p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
				}
				waitFor(t, "the first leaves registered", func() bool { return len(s.Peers()) == tt.leavesUp })

				p := dialRaw(t, s.Addr())
				p.writeString(tt.connect)
				ans, err := p.readBlock()
				require.NoError(t, err)
				_, code, _, err := ans.ParseStatus()
				require.NoError(t, err)
				require.Equal(t, tt.wantCode, code, "%q", ans.StartLine)
				if code != 200 {
					_, ok := ans.Get("X-Try-Ultrapeers")
					assert.Equal(t, tt.wantTryHdr, ok)
					p.expectClosed()
					assert.Len(t, s.Peers(), tt.leavesUp)
					return
				}
				up, _ := ans.Get("X-Ultrapeer")
				assert.Equal(t, tt.wantUP, up)
				if tt.wantUP == "True" {
					deg, _ := ans.Get("X-Degree")
					n, err := strconv.Atoi(deg)
					require.NoError(t, err)
					assert.GreaterOrEqual(t, n, 16)
					for _, h := range []string{"X-Dynamic-Querying", "X-Ultrapeer-Query-Routing", "X-Ultrapeer-Needed", "X-Max-TTL"} {
						_, ok := ans.Get(h)
						assert.True(t, ok, "header %s", h)
					}
				}
				p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
				waitFor(t, "registered", func() bool { return len(s.Peers()) == tt.leavesUp+1 })
				c := connFrom(s, p.nc)
				require.NotNil(t, c)
				assert.Equal(t, tt.wantKind, c.kind)
			})
		})
	}
}

// TestLeafDialsOnlyUltrapeers: a leaf that reaches another leaf gives up.
func TestLeafDialsOnlyUltrapeers(t *testing.T) {
	vtest(t, func(t *testing.T) {
		a := startServent(t, leafConfig(t, nil))
		b := startServent(t, leafConfig(t, nil))
		err := a.Connect(b.Addr())
		require.Error(t, err)
		assert.Empty(t, a.Peers())
	})
}

// autoConfig is an auto-mode servent with the bandwidth to be promoted
// once up promoteAfter, reconsidering its role every check.
func autoConfig(t *testing.T, promoteAfter, check time.Duration) Config {
	cfg := testConfig(t)
	cfg.Mode = ModeAuto
	cfg.UploadKBps = router.UltrapeerMinKBps
	cfg.PromoteAfter = promoteAfter
	cfg.RoleCheckInterval = check
	return cfg
}

// TestAutoPromotes: an auto-mode servent starts as a leaf and becomes an
// ultrapeer once it qualifies; its new handshakes say so.
func TestAutoPromotes(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s, err := New(autoConfig(t, time.Millisecond, 5*time.Millisecond))
		require.NoError(t, err)
		require.True(t, s.IsLeaf(), "auto starts as a leaf")
		require.NoError(t, s.Start(t.Context()))
		t.Cleanup(func() { s.Close() })
		waitFor(t, "promotion", func() bool { return !s.IsLeaf() })
		p := dialRaw(t, s.Addr())
		p.writeString(leafConnect)
		ans, err := p.readBlock()
		require.NoError(t, err)
		up, _ := ans.Get("X-Ultrapeer")
		assert.Equal(t, "True", up)
	})
}

// TestAutoDemotes: an auto-promoted ultrapeer without leaves whose only
// ultrapeer neighbour says X-Ultrapeer-Needed: False goes back to being a
// leaf, says Bye to that neighbour, and stays a leaf for the next ten
// minutes though it still meets every promotion criterion: switching back
// at once would tear down every link again at each check.
func TestAutoDemotes(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, autoConfig(t, time.Second, time.Second))
		waitFor(t, "promotion", func() bool { return !s.IsLeaf() })

		p := dialRaw(t, s.Addr())
		p.writeString(rawConnect("X-Ultrapeer-Needed: False"))
		_, err := p.readBlock()
		require.NoError(t, err)
		p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
		waitFor(t, "demotion", func() bool { return s.IsLeaf() })
		p.expectClosed()

		time.Sleep(10 * time.Minute)
		assert.True(t, s.IsLeaf(), "promoted again right after its demotion")
	})
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"ultrapeer": ModeUltrapeer, "LEAF": ModeLeaf, "auto": ModeAuto} {
		m, err := ParseMode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, m)
		assert.Equal(t, strings.ToLower(in), m.String())
	}
	_, err := ParseMode("hub")
	assert.Error(t, err)
}

// TestLeafQRTArrives: a leaf's table reaches its ultrapeer within a second
// of connecting, and a file added later reaches it as a patch.
func TestLeafQRTArrives(t *testing.T) {
	vtest(t, func(t *testing.T) {
		up := startServent(t, upConfig(t))
		lcfg := leafConfig(t, map[string]string{"Penny Lane.mp3": "penny"})
		leaf := startServent(t, lcfg)
		start := time.Now()
		require.NoError(t, leaf.Connect(up.Addr()))
		waitFor(t, "the leaf's table at the ultrapeer", func() bool {
			c := connOf(up, leaf.Addr())
			return c != nil && c.table() != nil
		})
		assert.Less(t, time.Since(start), time.Second)
		c := connOf(up, leaf.Addr())
		assert.Equal(t, router.Leaf, c.kind)
		tbl := c.table()
		assert.True(t, tbl.MatchText([]byte("penny lane")))
		assert.False(t, tbl.MatchText([]byte("yellow submarine")))
		assert.EqualValues(t, 2, c.stats.inMsgs[wire.TypeQRP].Load(), "a RESET and one PATCH")

		require.NoError(t, os.WriteFile(filepath.Join(lcfg.ShareDir, "Yellow Submarine.ogg"), []byte("yellow"), 0o644))
		leaf.Rescan()
		waitFor(t, "the patch with the new file", func() bool {
			t := c.table()
			return t != nil && t.MatchText([]byte("yellow submarine"))
		})
		assert.True(t, c.table().MatchText([]byte("penny")), "the patch kept the old words")
		assert.Zero(t, c.peerBye.Load())
	})
}

// TestBadPatchByes: a PATCH that does not inflate ends the leaf's
// connection with Bye 413.
func TestBadPatchByes(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, upConfig(t))
		p := dialRaw(t, s.Addr())
		p.writeString(leafConnect)
		_, err := p.readBlock()
		require.NoError(t, err)
		p.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
		p.r = wire.NewReader(p.br, 0)
		p.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1},
			QRP: wire.QRP{Variant: wire.QRPReset, TableLength: 65536, Infinity: 7}})
		p.send(wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQRP, TTL: 1},
			QRP: wire.QRP{Variant: wire.QRPPatch, SeqNo: 1, SeqSize: 1, Compressor: wire.QRPCompressZlib, EntryBits: 4,
				Data: []byte("this is not a zlib stream")}})
		bye := p.readBye()
		assert.EqualValues(t, 413, bye.Code)
		assert.Equal(t, "Bad QRP Table", string(bye.Reason()))
	})
}

// TestVendorAndHSEPIgnored: we send Messages-Supported to a peer that
// speaks vendor messages, listing the ones we act on (push proxies and our
// relay), and read other vendor messages, HSEP and unknown types without
// counting them malformed.
func TestVendorAndHSEPIgnored(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, testConfig(t))
		p := dialRaw(t, s.Addr())
		p.handshake06("Vendor-Message: 0.2")
		m := p.readUntil("Messages-Supported", func(m *wire.Message) bool {
			return m.Header.Type == wire.TypeVendor && m.Vendor.IsMessagesSupported()
		})
		assert.EqualValues(t, 1, m.Header.TTL)
		entries, err := wire.AppendMessagesSupported(nil, m.Vendor.Body)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, fmt.Sprintf("%s/%d v%d", e.Vendor[:], e.Selector, e.Version))
		}
		assert.Equal(t, []string{"LIME/21 v1", "LIME/21 v2", "LIME/22 v1", "LIME/22 v2", "GOVT/1 v1", "GOVT/2 v1",
			"LIME/11 v3", "LIME/12 v3", "GTKG/7 v1"}, names)

		raw := func(typ wire.PayloadType, payload []byte) []byte {
			h := wire.Header{GUID: wire.NewGUID(), Type: typ, TTL: 1, Length: uint32(len(payload))}
			return append(h.Append(nil), payload...)
		}
		var b []byte
		b = append(b, raw(wire.TypeVendor, []byte{'L', 'I', 'M', 'E', 21, 0, 2, 0, 1, 2, 3})...)
		b = append(b, raw(wire.TypeStdVendor, []byte{0, 0, 0, 0, 10, 0, 0, 0})...)
		b = append(b, raw(wire.TypeHSEP, bytes.Repeat([]byte{1, 0, 0, 0, 0, 0, 0, 0}, 3))...)
		b = append(b, raw(0x99, []byte("what is this"))...)
		_, err = p.nc.Write(b)
		require.NoError(t, err)
		ping := guidN('v', 1)
		p.send(wire.Message{Header: wire.Header{GUID: ping, Type: wire.TypePing, TTL: 1}})
		p.readUntil("the Pong", func(m *wire.Message) bool { return m.Header.Type == wire.TypePong && m.Header.GUID == ping })
		assert.Zero(t, s.Stats().Malformed)
		assert.Len(t, s.Peers(), 1)
	})
}

// probeLeafStream returns the leaf probe's CONNECT block from
// leaf-deflate.pcap and the QRP messages it sent (RESET, PATCH), raw.
func probeLeafStream(t *testing.T) (connect []byte, qrp []byte) {
	stream := gtkStream(t, "leaf-deflate.pcap", func(_, dst uint16) bool { return dst == 6350 })
	connect, rest := cutBlock(t, stream)
	_, rest = cutBlock(t, rest) // its final 200
	r := wire.NewReader(linkzip.NewReader(bytes.NewReader(rest), linkzip.ReaderConfig{}), 0)
	for {
		m, err := r.ReadMessage()
		require.NoError(t, err)
		if m.Header.Type == wire.TypeQRP {
			qrp = m.Header.Append(qrp)
			qrp = append(qrp, m.Payload...)
		}
		if m.Header.Type == wire.TypeBye {
			return connect, qrp
		}
	}
}

// TestReplayProbeLeafQRP plays the capture's leaf against our ultrapeer: our
// 200 has what gtk-gnutella leaves require, and its table (one slot:
// "beatles") makes us forward "beatles" to it and not "penny".
func TestReplayProbeLeafQRP(t *testing.T) {
	connect, qrp := probeLeafStream(t)
	s := startServent(t, upConfig(t))
	leaf := dialRaw(t, s.Addr())
	_, err := leaf.nc.Write(connect)
	require.NoError(t, err)
	ans, err := leaf.readBlock()
	require.NoError(t, err)
	_, code, _, err := ans.ParseStatus()
	require.NoError(t, err)
	require.Equal(t, 200, code)
	deg, _ := ans.Get("X-Degree")
	n, err := strconv.Atoi(deg)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 16)
	dq, _ := ans.Get("X-Dynamic-Querying")
	assert.Equal(t, "0.1", dq)
	enc, _ := ans.Get("Content-Encoding")
	assert.Equal(t, "deflate", enc)
	leaf.writeString("GNUTELLA/0.6 200 OK\r\n\r\n")
	_, err = leaf.nc.Write(qrp)
	require.NoError(t, err)
	waitFor(t, "the probe's table", func() bool {
		c := connFrom(s, leaf.nc)
		return c != nil && c.table() != nil
	})
	assert.Equal(t, 65536, connFrom(s, leaf.nc).table().Slots())

	u := dialRaw(t, s.Addr())
	u.handshake06()
	penny, beatles := guidN('p', 1), guidN('b', 1)
	u.send(queryMsg(penny, 2, "penny"))
	u.send(queryMsg(beatles, 2, "beatles"))
	_ = leaf.nc.SetReadDeadline(time.Now().Add(rawWait))
	var queries []wire.GUID
	_, err = readOurs(leaf.br, true, func(m *wire.Message) bool {
		if m.Header.Type == wire.TypeQuery {
			queries = append(queries, m.Header.GUID)
		}
		return m.Header.GUID == beatles
	})
	require.NoError(t, err)
	assert.Equal(t, []wire.GUID{beatles}, queries, "only the matching Query reaches the leaf")
	assert.Zero(t, s.Stats().Malformed)
}

// TestReplayGTKUltrapeerQRP plays gtk-gnutella's descriptors from
// ultrapeer-plain.pcap (its QRP table first) as an ultrapeer neighbour: the
// table is accepted and holds gtk-gnutella's words.
func TestReplayGTKUltrapeerQRP(t *testing.T) {
	stream := gtkStream(t, "ultrapeer-plain.pcap", func(src, _ uint16) bool { return src == 6350 })
	_, rest := cutBlock(t, stream)
	s := startServent(t, upConfig(t))
	p := dialRaw(t, s.Addr())
	p.handshake06("X-Ultrapeer-Query-Routing: 0.1", "Vendor-Message: 0.2")
	_, err := p.nc.Write(rest)
	require.NoError(t, err)
	waitFor(t, "registered", func() bool { return len(s.Peers()) == 1 })
	c := onlyConn(t, s)
	waitFor(t, "gtk-gnutella's table", func() bool { return c.table() != nil })
	tbl := c.table()
	assert.Equal(t, 16384, tbl.Slots())
	assert.Equal(t, 19, tbl.Present())
	assert.True(t, tbl.MatchText([]byte("strawberry fields")))
	assert.False(t, tbl.MatchText([]byte("beatles")))
	waitFor(t, "every descriptor read", func() bool { return inCount(c) == 10 })
	assert.Zero(t, s.Stats().Malformed)
	assert.Zero(t, c.byeCode.Load())
}

// twoTier is ultrapeers, fully meshed, and leaves under them.
type twoTier struct {
	ups, leaves []*Servent
}

// buildTwoTier starts nUP meshed ultrapeers and nLeaf leaves; leaf i shares
// files(i) and connects to the ultrapeers upsOf(i). It returns once every
// leaf's table is at its ultrapeers and every ultrapeer holds its
// neighbours' current aggregates.
func buildTwoTier(t *testing.T, nUP, nLeaf int, upsOf func(int) []int, files func(int) map[string]string,
	upTweak, leafTweak func(*Config)) *twoTier {
	t.Helper()
	tt := &twoTier{}
	for range nUP {
		cfg := upConfig(t)
		cfg.MaxLeaves = nLeaf
		cfg.MaxPeers = nUP
		if upTweak != nil {
			upTweak(&cfg)
		}
		tt.ups = append(tt.ups, startServent(t, cfg))
	}
	for i := range nUP {
		for j := i + 1; j < nUP; j++ {
			require.NoError(t, tt.ups[i].Connect(tt.ups[j].Addr()))
		}
	}
	for i := range nLeaf {
		cfg := leafConfig(t, files(i))
		if leafTweak != nil {
			leafTweak(&cfg)
		}
		l := startServent(t, cfg)
		tt.leaves = append(tt.leaves, l)
		for _, u := range upsOf(i) {
			require.NoError(t, l.Connect(tt.ups[u].Addr()))
		}
	}
	leavesOf := make([]int, nUP)
	for i := range nLeaf {
		for _, u := range upsOf(i) {
			leavesOf[u]++
		}
	}
	waitFor(t, "every leaf's table at its ultrapeers", func() bool {
		for k, u := range tt.ups {
			n := 0
			for _, p := range u.Peers() {
				if p.Leaf && p.HasQRT {
					n++
				}
			}
			if n != leavesOf[k] {
				return false
			}
		}
		for i, l := range tt.leaves {
			if len(l.Peers()) != len(upsOf(i)) {
				return false
			}
		}
		return true
	})
	waitFor(t, "every ultrapeer's aggregate at its neighbours", func() bool {
		for _, u := range tt.ups {
			for _, v := range tt.ups {
				if u == v {
					continue
				}
				c := connOf(u, v.Addr())
				if c == nil || c.table() == nil || c.table().Present() != currentAggregate(t, v).Present() {
					return false
				}
			}
		}
		return true
	})
	return tt
}

// currentAggregate is the union of u's table and its leaves' tables now.
func currentAggregate(t testing.TB, u *Servent) *router.QueryRouteTable {
	tables := []*router.QueryRouteTable{u.localTable()}
	u.mu.Lock()
	for _, c := range u.conns {
		if c.kind == router.Leaf {
			tables = append(tables, c.table())
		}
	}
	u.mu.Unlock()
	agg, err := router.UnionQRT(qrpBits, tables...)
	require.NoError(t, err)
	return agg
}

// leafQueries is how many Queries reached the leaves.
func (tt *twoTier) leafQueries() uint64 {
	var n uint64
	for _, l := range tt.leaves {
		n += countIn(l, wire.TypeQuery)
	}
	return n
}

// wireBytes is every byte the servents wrote after their handshakes.
func (tt *twoTier) wireBytes() uint64 {
	var n uint64
	for _, s := range slices.Concat(tt.ups, tt.leaves) {
		s.mu.Lock()
		for _, c := range s.conns {
			n += c.stats.wireOut.Load()
		}
		s.mu.Unlock()
	}
	return n
}

// dqIdle waits until no ultrapeer widens a Query any more.
func (tt *twoTier) dqIdle(t *testing.T) {
	waitFor(t, "dynamic queries done", func() bool {
		for _, u := range tt.ups {
			if u.DynamicQueries() != 0 {
				return false
			}
		}
		return true
	})
}

// TestTwoTierSearch: 3 meshed ultrapeers and 20 leaves (half of them on two
// ultrapeers). A leaf's search reaches every matching leaf and no other;
// no leaf sees a Ping or a Query its table does not match.
func TestTwoTierSearch(t *testing.T) {
	vtest(t, func(t *testing.T) {
		const nUP, nLeaf, searcher = 3, 20, 1
		upsOf := func(i int) []int {
			if i%2 == 0 {
				return []int{i % nUP, (i + 1) % nUP}
			}
			return []int{i % nUP}
		}
		matching := func(i int) bool { return i%4 == 0 }
		files := func(i int) map[string]string {
			if matching(i) {
				return map[string]string{fmt.Sprintf("tiermatch song %d.mp3", i): "m"}
			}
			return map[string]string{fmt.Sprintf("other song %d.mp3", i): "o"}
		}
		tt := buildTwoTier(t, nUP, nLeaf, upsOf, files, nil, nil)

		sr, err := tt.leaves[searcher].Search(searchCtx(t), "tiermatch")
		require.NoError(t, err)
		var want []string
		for i := range nLeaf {
			if matching(i) {
				want = append(want, fmt.Sprintf("tiermatch song %d.mp3", i))
			}
		}
		res := collect(t, sr, len(want), 10*time.Second)
		var got []string
		for _, r := range res {
			got = append(got, r.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		assert.Equal(t, want, got)
		tt.dqIdle(t)
		for i, l := range tt.leaves {
			assert.Zero(t, countIn(l, wire.TypePing), "leaf %d got a Ping", i)
			if !matching(i) {
				assert.Zero(t, countIn(l, wire.TypeQuery), "leaf %d got a Query its table does not match", i)
			} else {
				assert.NotZero(t, countIn(l, wire.TypeQuery), "leaf %d", i)
			}
		}
	})
}

// TestDynamicQueryStops: ultrapeer A's leaf searches; A's three neighbours
// each have one matching leaf. With a target of one result, the TTL-1 probe
// of one neighbour is enough and the others never see the Query; with a
// target of 100, A widens to every neighbour.
func TestDynamicQueryStops(t *testing.T) {
	tests := []struct {
		name    string
		target  int
		noDQ    bool
		reached int
	}{
		{name: "one result is enough", target: 1, reached: 1},
		{name: "too few results widen to every neighbour", target: 100, reached: 3},
		{name: "NoDynamicQuery floods every neighbour at once", target: 1, noDQ: true, reached: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfg := upConfig(t)
				cfg.DynamicQueryResults = tc.target
				cfg.DynamicQueryProbe = 1
				cfg.DynamicQueryWait = 300 * time.Millisecond
				cfg.NoDynamicQuery = tc.noDQ
				a := startServent(t, cfg)
				var others []*Servent
				for i := range 3 {
					u := startServent(t, upConfig(t))
					l := startServent(t, leafConfig(t, map[string]string{fmt.Sprintf("dqfile %d.txt", i): "x"}))
					require.NoError(t, l.Connect(u.Addr()))
					require.NoError(t, a.Connect(u.Addr()))
					others = append(others, u)
				}
				searcher := startServent(t, leafConfig(t, nil))
				require.NoError(t, searcher.Connect(a.Addr()))
				waitFor(t, "tables everywhere", func() bool {
					for _, u := range others {
						c := connOf(a, u.Addr())
						if c == nil || c.table() == nil || !c.table().MatchText([]byte("dqfile")) {
							return false
						}
					}
					return true
				})
				sr, err := searcher.Search(searchCtx(t), "dqfile")
				require.NoError(t, err)
				if tc.noDQ {
					assert.Zero(t, a.DynamicQueries(), "flooded, not widened")
				}
				res := collect(t, sr, tc.reached, 10*time.Second)
				assert.Len(t, res, tc.reached)
				waitFor(t, "the dynamic query ends", func() bool { return a.DynamicQueries() == 0 })
				reached := 0
				for _, u := range others {
					if queryCount(u) > 0 {
						reached++
					}
				}
				assert.Equal(t, tc.reached, reached)
			})
		})
	}
}

// TestNoQRPFilterFloods: ultrapeer A's neighbour B and A's leaf share
// nothing that matches. A Query that reaches A with TTL 2 is withheld from
// both (B on its last hop, by B's aggregate table; the leaf by its table)
// unless A runs with NoQRPFilter, when both get it.
func TestNoQRPFilterFloods(t *testing.T) {
	for _, noFilter := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoQRPFilter=%v", noFilter), func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				cfg := upConfig(t)
				cfg.NoQRPFilter = noFilter
				a := startServent(t, cfg)
				b := startServent(t, upConfig(t))
				lb := startServent(t, leafConfig(t, map[string]string{"unrelated b.txt": "b"}))
				require.NoError(t, lb.Connect(b.Addr()))
				la := startServent(t, leafConfig(t, map[string]string{"unrelated a.txt": "a"}))
				require.NoError(t, la.Connect(a.Addr()))
				require.NoError(t, a.Connect(b.Addr()))
				scfg := upConfig(t)
				scfg.DefaultTTL = 2
				searcher := startServent(t, scfg)
				require.NoError(t, searcher.Connect(a.Addr()))
				waitFor(t, "B's aggregate and the leaf's table at A", func() bool {
					cb, cl := connOf(a, b.Addr()), connOf(a, la.Addr())
					return cb != nil && cb.table() != nil && cb.table().MatchText([]byte("unrelated")) &&
						cl != nil && cl.table() != nil
				})
				sr, err := searcher.Search(searchCtx(t), "nomatch")
				require.NoError(t, err)
				assert.Empty(t, collect(t, sr, 1, 300*time.Millisecond))
				want := uint64(0)
				if noFilter {
					want = 1
				}
				assert.Equal(t, want, queryCount(b), "ultrapeer on the last hop")
				assert.Equal(t, want, queryCount(la), "leaf")
			})
		})
	}
}

// TestLeafReconnects: a leaf that keeps one ultrapeer moves to the other
// configured one when its ultrapeer shuts down.
func TestLeafReconnects(t *testing.T) {
	vtest(t, func(t *testing.T) {
		u0 := startServent(t, upConfig(t))
		u1 := startServent(t, upConfig(t))
		cfg := leafConfig(t, nil)
		cfg.LeafUltrapeers = 1
		cfg.Peers = []string{u0.Addr().String(), u1.Addr().String()}
		leaf := startServent(t, cfg)
		waitFor(t, "one ultrapeer", func() bool { return len(leaf.Peers()) == 1 })
		first, other := u0, u1
		if leaf.Peers()[0].Addr == u1.Addr() {
			first, other = u1, u0
		}
		require.NoError(t, first.Close())
		waitFor(t, "the other ultrapeer", func() bool {
			p := leaf.Peers()
			return len(p) == 1 && p[0].Addr == other.Addr()
		})
		waitFor(t, "the leaf's table at its new ultrapeer", func() bool {
			c := connOf(other, leaf.Addr())
			return c != nil && c.table() != nil
		})
	})
}

// TestLeafCompression: a leaf searches through its ultrapeer with deflate
// both ways, one way and not at all.
func TestLeafCompression(t *testing.T) {
	tests := []struct {
		name          string
		up, leaf      func(*Config)
		wantIn, wantO bool // the leaf's directions
	}{
		{name: "deflate both ways", wantIn: true, wantO: true},
		{name: "leaf reads plain, sends deflate", leaf: func(c *Config) { c.NoDeflateIn = true }, wantO: true},
		{name: "ultrapeer sends plain", up: func(c *Config) { c.NoDeflateOut = true }, wantO: true},
		{name: "no deflate", up: func(c *Config) { c.NoDeflateIn, c.NoDeflateOut = true, true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vtest(t, func(t *testing.T) {
				tt := buildTwoTier(t, 1, 2, func(int) []int { return []int{0} },
					func(i int) map[string]string { return map[string]string{fmt.Sprintf("zipfile %d.txt", i): "z"} },
					tc.up, tc.leaf)
				c := connOf(tt.leaves[0], tt.ups[0].Addr())
				require.NotNil(t, c)
				assert.Equal(t, tc.wantIn, c.peer.deflateIn)
				assert.Equal(t, tc.wantO, c.peer.deflateOut)
				sr, err := tt.leaves[0].Search(searchCtx(t), "zipfile")
				require.NoError(t, err)
				res := collect(t, sr, 1, 10*time.Second)
				require.Len(t, res, 1)
				assert.Equal(t, "zipfile 1.txt", res[0].Name)
			})
		})
	}
}

// TestMeasureQRPAndDeflate runs 4 ultrapeers with 25 leaves each and four
// searches, and compares Queries delivered to leaves with and without QRP
// filtering, and bytes on the wire with and without deflate.
func TestMeasureQRPAndDeflate(t *testing.T) {
	vtest(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("104 servents")
		}
		const nUP, perUP = 4, 25
		upsOf := func(i int) []int { return []int{i % nUP} }
		files := func(i int) map[string]string {
			return map[string]string{fmt.Sprintf("tune%d song %d.mp3", i%10, i): strings.Repeat("x", 100)}
		}
		run := func(upTweak, leafTweak func(*Config)) (queries, bytes uint64, results int) {
			tt := buildTwoTier(t, nUP, nUP*perUP, upsOf, files, upTweak, leafTweak)
			before := tt.wireBytes()
			for k := range nUP {
				sr, err := tt.leaves[k].Search(searchCtx(t), fmt.Sprintf("tune%d", k+5))
				require.NoError(t, err)
				results += len(collect(t, sr, 10, 10*time.Second))
			}
			tt.dqIdle(t)
			queries, bytes = tt.leafQueries(), tt.wireBytes()-before
			for _, s := range slices.Concat(tt.ups, tt.leaves) {
				s.Close()
			}
			return queries, bytes, results
		}
		qrpQ, zipBytes, r1 := run(nil, nil)
		floodQ, _, r2 := run(func(c *Config) { c.NoQRPFilter = true }, nil)
		noZip := func(c *Config) { c.NoDeflateIn, c.NoDeflateOut = true, true }
		_, plainBytes, r3 := run(noZip, noZip)
		t.Logf("Queries delivered to 100 leaves for 4 searches: %d with QRP, %d without", qrpQ, floodQ)
		t.Logf("bytes on the wire for the searches: %d with deflate, %d without", zipBytes, plainBytes)
		for _, r := range []int{r1, r2, r3} {
			assert.Equal(t, 40, r, "every search finds its 10 files")
		}
		assert.Less(t, qrpQ*4, floodQ, "QRP delivers far fewer Queries")
		assert.Less(t, zipBytes, plainBytes, "deflate sends fewer bytes")
	})
}

// TestLeafGuidanceAccepted: an ultrapeer that dials us and, having read our
// X-Ultrapeer-Needed, answers X-Ultrapeer: False becomes our leaf.
func TestLeafGuidanceAccepted(t *testing.T) {
	vtest(t, func(t *testing.T) {
		s := startServent(t, upConfig(t))
		p := dialRaw(t, s.Addr())
		p.writeString(rawConnect())
		ans, err := p.readBlock()
		require.NoError(t, err)
		_, ok := ans.Get("X-Ultrapeer-Needed")
		require.True(t, ok)
		p.writeString("GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: False\r\n\r\n")
		waitFor(t, "registered", func() bool { return len(s.Peers()) == 1 })
		c := onlyConn(t, s)
		assert.Equal(t, router.Leaf, c.kind)
		assert.True(t, s.Peers()[0].Leaf)
	})
}

// TestUltrapeerDialsLeaf: an ultrapeer that dials a leaf (the leaf answers
// X-Ultrapeer: False) takes it as its leaf, in a leaf slot, and routes to
// it by the table the leaf sends, as if the leaf had dialled.
func TestUltrapeerDialsLeaf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		up := startServent(t, memConfig(t, n, "127.0.0.1:6346"))
		lcfg := memLeafConfig(t, n, "127.0.0.2:6346")
		lcfg.ShareDir = shareDir(t, map[string]string{"Penny Lane.mp3": "penny"})
		leaf := startServent(t, lcfg)
		require.NoError(t, up.Connect(leaf.Addr()))
		synctest.Wait()
		peers := up.Peers()
		require.Len(t, peers, 1)
		assert.True(t, peers[0].Leaf, "the leaf we dialled is our leaf")
		assert.True(t, peers[0].HasQRT, "its table reached us")
		up.mu.Lock()
		assert.Equal(t, 1, up.leafSlots, "in a leaf slot")
		assert.Equal(t, 0, up.slots)
		up.mu.Unlock()
		require.Len(t, leaf.Peers(), 1)
		assert.True(t, leaf.Peers()[0].Ultrapeer)

		// A neighbour's Queries reach the leaf only when its table matches.
		u := dialRawFrom(t, n.Host(netip.MustParseAddr("127.0.0.9")), up.Addr())
		u.handshake06()
		synctest.Wait()
		u.send(queryMsg(guidN('d', 1), 3, "penny lane"))
		u.send(queryMsg(guidN('d', 2), 3, "yellow submarine"))
		synctest.Wait()
		assert.EqualValues(t, 1, countIn(leaf, wire.TypeQuery))
		assert.Zero(t, countIn(leaf, wire.TypePing), "a leaf gets no Pings but keepalives")
	})
}

// TestQRPNeedsEveryKeyword: a leaf sharing "penny lane" gets a neighbour's
// Query for "penny lane" through its ultrapeer and never one for "penny
// beatles": its table has "penny" but not "beatles", and QRP ANDs keywords.
func TestQRPNeedsEveryKeyword(t *testing.T) {
	vtest(t, func(t *testing.T) {
		up := startServent(t, upConfig(t))
		leaf := startServent(t, leafConfig(t, map[string]string{"Penny Lane.mp3": "penny"}))
		require.NoError(t, leaf.Connect(up.Addr()))
		waitFor(t, "the leaf's table at the ultrapeer", func() bool {
			c := connOf(up, leaf.Addr())
			return c != nil && c.table() != nil
		})
		u := dialRaw(t, up.Addr())
		u.handshake06()
		lane, beatles := guidN('k', 1), guidN('k', 2)
		u.send(queryMsg(beatles, 3, "penny beatles"))
		u.send(queryMsg(lane, 3, "penny lane"))
		hit := u.readUntil("the leaf's QueryHit", func(m *wire.Message) bool { return m.Header.Type == wire.TypeQueryHit })
		assert.Equal(t, lane, hit.Header.GUID)
		synctest.Wait()
		c := connOf(leaf, up.Addr())
		require.NotNil(t, c)
		assert.EqualValues(t, 1, c.stats.inMsgs[wire.TypeQuery].Load(), "the leaf got one Query: penny lane")
		assert.EqualValues(t, 1, leaf.Stats().Answered)
	})
}
