package httpxfer

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// junkAlts is an X-Alt value of n addresses that never answer.
func junkAlts(n int) string {
	alts := make([]string, n)
	for i := range alts {
		alts[i] = fmt.Sprintf("10.%d.%d.1:6346", 200+i/200, i%200)
	}
	return strings.Join(alts, ", ")
}

// countingDialer dials through a pipeDialer and records the most
// connections open at once.
type countingDialer struct {
	pipeDialer
	mu         sync.Mutex
	open, peak int
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		c.d.open--
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

func (d *countingDialer) DialSource(ctx context.Context, s Source) (net.Conn, error) {
	conn, err := d.pipeDialer.DialSource(ctx, s)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.open++
	d.peak = max(d.peak, d.open)
	d.mu.Unlock()
	return &countedConn{Conn: conn, d: d}, nil
}

// A hostile source answers with 64 X-Alt entries that never answer: they
// take no more than a reporter's share of the download's sources, so a
// real source that a re-search finds later joins, and the download
// completes from it within MaxConns connections.
func TestDownloadHostileAltsLeaveRoom(t *testing.T) {
	synctest.Test(t, testHostileAltsLeaveRoom)
}

func testHostileAltsLeaveRoom(t *testing.T) {
	data := randomData(1<<20 + 333)
	sum := wire.SHA1(sha1.Sum(data))
	added := make(chan struct{})
	// H serves its first chunk with the junk, and 404 once the real
	// source was offered: from then on only R can finish the file.
	h := newPipeFake(t, "127.0.0.1:7001", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if n > 0 {
			select {
			case <-added:
			case <-time.After(10 * time.Second):
			}
			return status(404, "Not Found")(fs, conn, req, n)
		}
		x, y := askedRange(req, len(data))
		reply206(conn, len(data), x, y, data[x:y+1], "X-Alt: "+junkAlts(64))
		return true
	})
	r := newPipeFake(t, "127.0.0.1:7002", data, honest)
	defer h.stop()
	defer r.stop()
	dialer := &countingDialer{pipeDialer: newPipeDialer(h, r)}
	const maxConns = 2
	d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), ChunkSize: 64 << 10, MaxConns: maxConns, MaxFailures: 2,
		Wait: (&waitRecorder{}).wait, Dialer: dialer})
	var once sync.Once
	res, err := d.Download(t.Context(), Request{
		Name: "hostile.bin", Size: int64(len(data)), SHA1: sum, Sources: []Source{h.source()},
		Progress: func(done, total int64) {
			if done > 0 {
				once.Do(func() {
					assert.True(t, d.AddSources(sum, r.source()))
					close(added)
				})
			}
		},
	})
	require.NoError(t, err)
	assert.Equal(t, sum, res.SHA1)
	junk := 0
	for _, s := range res.Sources {
		switch s.Source.Addr {
		case h.addr:
		case r.addr:
			assert.Positive(t, s.Bytes, "the real source served")
		default:
			junk++
		}
	}
	assert.LessOrEqual(t, junk, jobPerReporter, "one reporter's share")
	dialer.mu.Lock()
	defer dialer.mu.Unlock()
	assert.LessOrEqual(t, dialer.peak, maxConns)
}

// Sources the user named, or that came first-hand (QueryHit, re-search),
// are never pushed out by hearsay, even when they failed; hearsay that
// failed gives its place to any newcomer; and a reporter adds at most
// its share.
func TestJobSourcesHearsayRule(t *testing.T) {
	sum := wire.SHA1{1}
	j := &job{cfg: &DownloaderConfig{Mesh: NewMesh(0)}, req: Request{SHA1: sum}}
	ap := func(a, b, c byte) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, a, b, c}), 6346)
	}
	alts := func(a byte, n int) *wire.Handshake {
		var v []string
		for i := range n {
			v = append(v, ap(a, byte(i), 1).String())
		}
		return &wire.Handshake{Headers: []wire.HandshakeHeader{{Name: "X-Alt", Value: strings.Join(v, ", ")}}}
	}
	reporter := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, byte(i), 1}) }
	var named []Source
	for i := range maxJobSources - 16 {
		named = append(named, Source{Addr: ap(1, byte(i), 1)})
	}
	j.addSources(named...)
	for i := range 16 {
		j.learnAltLocs(reporter(i), alts(byte(100+i), 8))
	}
	require.Len(t, j.srcs, maxJobSources)
	perNet := map[byte]int{}
	for _, s := range j.srcs[len(named):] {
		perNet[s.src.Addr.Addr().As4()[1]]++
	}
	for a, n := range perNet {
		assert.LessOrEqual(t, n, jobPerReporter, "entries of reporter %d", a)
	}

	// Everything fails.
	for _, s := range j.srcs {
		j.dropLocked(s, errors.New("404 Not Found"))
	}
	// A re-search's source takes the place of failed hearsay.
	found := Source{Addr: ap(2, 0, 1)}
	j.addSources(found)
	assert.True(t, j.hasLocked(found.String()), "a first-hand source takes failed hearsay's place")
	// So does newer hearsay; never the named sources' places.
	for i := range 16 {
		j.learnAltLocs(reporter(50+i), alts(byte(150+i), 8))
	}
	assert.Len(t, j.srcs, maxJobSources)
	for _, s := range append(named, found) {
		assert.True(t, j.hasLocked(s.String()), "%s kept", s)
	}
	assert.True(t, j.hasLocked(ap(150, 0, 1).String()), "new hearsay took failed hearsay's place")
	// Once only first-hand sources hold the list, hearsay finds no room.
	for _, s := range j.srcs {
		j.dropLocked(s, errors.New("404 Not Found"))
	}
	for i := range 16 {
		j.addSources(Source{Addr: ap(3, byte(i), 1)})
	}
	j.learnAltLocs(reporter(99), alts(199, 8))
	assert.False(t, j.hasLocked(ap(199, 0, 1).String()), "hearsay pushes out no first-hand source")
	for _, s := range append(named, found) {
		assert.True(t, j.hasLocked(s.String()), "%s kept", s)
	}
}

// hasLocked reports whether the download has the source with key k.
func (j *job) hasLocked(k string) bool {
	for _, s := range j.srcs {
		if s.key == k {
			return true
		}
	}
	return false
}

// The sources the mesh hands a download at its start are hearsay too:
// when they fail, a re-search's source takes their place.
func TestJobMeshSourcesGivePlace(t *testing.T) {
	sum := wire.SHA1{2}
	mesh := NewMesh(0)
	for i := range 16 {
		from := netip.AddrFrom4([4]byte{192, 0, byte(i), 1})
		for k := range 4 {
			mesh.AddFrom(sum, from, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(k), 1}), 6346))
			mesh.AddFirewalled(sum, from, FirewalledLoc{GUID: wire.GUID{byte(i), byte(k), 1}})
		}
	}
	j := &job{cfg: &DownloaderConfig{Mesh: mesh}, req: Request{SHA1: sum}}
	named := Source{Addr: netip.MustParseAddrPort("10.99.0.1:6346")}
	j.addSources(named)
	j.addMeshSources()
	require.Len(t, j.srcs, maxJobSources)
	for _, s := range j.srcs {
		j.dropLocked(s, errors.New("404 Not Found"))
	}
	found := Source{Addr: netip.MustParseAddrPort("10.98.0.1:6346")}
	j.addSources(found)
	assert.True(t, j.hasLocked(found.String()), "a re-search's source takes a failed mesh source's place")
	assert.True(t, j.hasLocked(named.String()))
}

// A source heard of first and then found first-hand (a QueryHit, a
// re-search) is first-hand from then on: it keeps its place when it
// fails, and no longer counts against its reporter's share.
func TestJobHearsayFoundFirstHand(t *testing.T) {
	sum := wire.SHA1{3}
	j := &job{cfg: &DownloaderConfig{Mesh: NewMesh(0)}, req: Request{SHA1: sum}}
	a := Source{Addr: netip.MustParseAddrPort("10.1.0.1:6346")}
	from := netip.MustParseAddr("192.0.2.1")
	j.learnAltLocs(from, &wire.Handshake{Headers: []wire.HandshakeHeader{{Name: "X-Alt", Value: a.Addr.String()}}})
	require.True(t, j.hasLocked(a.String()))
	j.addSources(a)
	assert.Zero(t, j.reportedLocked(wire.NetworkOf(from)))
	j.dropLocked(j.srcs[0], errors.New("404 Not Found"))
	assert.False(t, j.evictLocked(func(*srcState) bool { return true }), "a first-hand source is not evicted")
	assert.True(t, j.hasLocked(a.String()))
}

// A source learned from another's X-Alt whose first connection is
// refused gives its place up at once, not after the 30 s of backoff a
// refused port gets: here H's X-Alt names 4 refusing ports (its whole
// share), and its next reply, a second later, names R, the only source
// that can finish the file once H answers 404. A refusing source the
// user named keeps its place through its backoff, as before.
func TestDownloadRefusingHearsayGivesPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := randomData(16 << 16)
		sum := wire.SHA1(sha1.Sum(data))
		var refusing []string
		var ends []pipeEnd
		for i := range jobPerReporter {
			fs := newPipeFake(t, fmt.Sprintf("127.0.0.1:%d", 7101+i), data, honest)
			fs.kill()
			refusing = append(refusing, fs.addr.String())
			ends = append(ends, fs)
		}
		r := newPipeFake(t, "127.0.0.1:7002", data, honest)
		named := newPipeFake(t, "127.0.0.1:7003", data, honest)
		named.kill()
		h := newPipeFake(t, "127.0.0.1:7001", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
			x, y := askedRange(req, len(data))
			switch n {
			case 0:
				reply206(conn, len(data), x, y, data[x:y+1], "X-Alt: "+strings.Join(refusing, ", "))
			case 1:
				time.Sleep(time.Second)
				reply206(conn, len(data), x, y, data[x:y+1], "X-Alt: "+r.addr.String())
			default:
				return status(404, "Not Found")(fs, conn, req, n)
			}
			return true
		})
		defer h.stop()
		defer r.stop()
		d := NewDownloader(DownloaderConfig{Dir: t.TempDir(), ChunkSize: 1 << 16, MaxConns: 4,
			Dialer: newPipeDialer(append(ends, h, r, named)...)})
		start := time.Now()
		res, err := d.Download(t.Context(), Request{
			Name: "f.bin", Size: int64(len(data)), SHA1: sum, Sources: []Source{h.source(), named.source()},
		})
		require.NoError(t, err, "R joined in the place of refusing hearsay")
		assert.Less(t, time.Since(start), 5*time.Second)
		for _, s := range res.Sources {
			if s.Source.Addr == r.addr {
				assert.Positive(t, s.Bytes, "R served")
			}
		}
		var dropped []string
		for _, f := range res.Dropped {
			dropped = append(dropped, f.Source.String())
			if f.Source.Addr != h.addr {
				assert.ErrorContains(t, f.Err, "connection refused")
			}
		}
		assert.NotContains(t, dropped, named.source().String(), "a named source keeps its place through its backoff")
		assert.Subset(t, append(refusing, h.source().String()), dropped)
	})
}
