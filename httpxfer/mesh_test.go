package httpxfer

import (
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

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// Three sources, one named: the second comes from the first's X-Alt, the
// third from a re-search (AddSources while the download runs). All three
// serve chunks; the third serves a bad one, is caught by THEX at that
// chunk, and is named in X-NAlt to the others from then on.
func TestDownloadMeshThreeSources(t *testing.T) {
	synctest.Test(t, testMeshThreeSources)
}

func testMeshThreeSources(t *testing.T) {
	data := randomData(2<<20 + 777)
	tr := treeOf(data)
	sum := wire.SHA1(sha1.Sum(data))
	seg := tr.ChunkSize()

	var mu sync.Mutex
	var nalts []string // X-NAlt values A and B received
	served := map[string]int{}
	bothServed := make(chan struct{})
	var once sync.Once
	note := func(who string, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		served[who]++
		if v := req.Header.Get("X-NAlt"); v != "" {
			nalts = append(nalts, v)
		}
		if served["B"] > 0 && served["C"] > 0 {
			once.Do(func() { close(bothServed) })
		}
	}
	var bAddr, cAddr netip.AddrPort
	// B and C take virtual time over each chunk, so that C, which joins
	// once the download is under way, finds chunks left to fetch.
	const bps = 1 << 20
	// A announces the tree and B; after its first chunk it waits for B
	// and C to have served one, so that the test does not depend on who
	// is fastest.
	a := newPipeFake(t, "127.0.0.1:7001", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		if strings.HasPrefix(req.URL.Path, "/uri-res/N2X") {
			body := tr.AppendDIME(nil)
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
			_, _ = conn.Write(body)
			return true
		}
		mu.Lock()
		first := served["A"] == 0
		mu.Unlock()
		if !first {
			select {
			case <-bothServed:
			case <-time.After(10 * time.Second):
			}
		}
		note("A", req)
		x, y := askedRange(req, len(data))
		reply206(conn, len(data), x, y, data[x:y+1],
			"X-Thex-URI: "+thex.FormatThexURI(sum, tr.Root()), "X-Alt: "+bAddr.String())
		return true
	})
	b := newPipeFake(t, "127.0.0.1:7002", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		note("B", req)
		return honest(fs, pacedConn{Conn: conn, bps: bps}, req, n)
	})
	c := newPipeFake(t, "127.0.0.1:7003", data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
		note("C", req)
		x, y := askedRange(req, len(data))
		body := append([]byte(nil), data[x:y+1]...)
		body[len(body)/2] ^= 1 // every body it sends is bad somewhere
		reply206(pacedConn{Conn: conn, bps: bps}, len(data), x, y, body)
		return true
	})
	bAddr, cAddr = b.addr, c.addr
	defer a.stop()
	defer b.stop()
	defer c.stop()

	mesh := NewMesh(0)
	dir := t.TempDir()
	d := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: seg, MaxFailures: 2, Mesh: mesh, Wait: (&waitRecorder{}).wait,
		Dialer: newPipeDialer(a, b, c)})
	var added sync.Once
	res, err := d.Download(t.Context(), Request{
		Name: "mesh.bin", Size: int64(len(data)), SHA1: sum, TTH: tr.Root(), HasTTH: true,
		Sources: []Source{a.source()},
		Progress: func(done, total int64) {
			if done > 0 {
				added.Do(func() { assert.True(t, d.AddSources(sum, c.source())) })
			}
		},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "mesh.bin")
	assert.True(t, res.TreeVerified)

	mu.Lock()
	defer mu.Unlock()
	for _, who := range []string{"A", "B", "C"} {
		assert.Positive(t, served[who], "%s served", who)
	}
	require.Len(t, res.Dropped, 1, "%v", res.Dropped)
	assert.Equal(t, c.source(), res.Dropped[0].Source)
	var me *thex.MismatchError
	require.True(t, errors.As(res.Dropped[0].Err, &me), "%v", res.Dropped[0].Err)
	assert.Contains(t, nalts, cAddr.String(), "the liar is named in X-NAlt")
	assert.True(t, mesh.IsBad(sum, cAddr))
	assert.ElementsMatch(t, []netip.AddrPort{a.addr, b.addr}, mesh.Good(sum, 10))
	assert.False(t, d.AddSources(sum, c.source()), "the download is over")
}

// The mesh keeps the most recent sources of each kind, gives them most
// recent first, never gives out a bad one again, and is bounded.
func TestMeshBounds(t *testing.T) {
	m := NewMesh(2)
	d := wire.SHA1{1}
	a, b, c := netip.MustParseAddrPort("1.1.1.1:1"), netip.MustParseAddrPort("2.2.2.2:2"), netip.MustParseAddrPort("3.3.3.3:3")
	m.Add(d, a, b, c, a)
	assert.Equal(t, []netip.AddrPort{a, c, b}, m.Good(d, 10))
	assert.Equal(t, []netip.AddrPort{a, c}, m.Good(d, 2))
	m.AddBad(d, c)
	m.Add(d, c)
	assert.Equal(t, []netip.AddrPort{a, b}, m.Good(d, 10), "a bad source is not taken back")
	assert.True(t, m.IsBad(d, c))
	for i := range 100 {
		m.Add(d, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 1))
	}
	assert.Len(t, m.Good(d, 1000), meshPerFile)
	m.Add(wire.SHA1{2}, a)
	m.Add(wire.SHA1{3}, a)
	assert.Empty(t, m.Good(d, 10), "the least recently used file went")
	var nilMesh *Mesh
	nilMesh.Add(d, a)
	assert.Empty(t, nilMesh.Good(d, 1))
}

// A source caught with several bad segments (checked at once, as they
// arrive) is named once in X-NAlt, not once per segment.
func TestBlamedTwiceNamedOnce(t *testing.T) {
	liar := Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}
	other := Source{Addr: netip.MustParseAddrPort("10.0.0.2:6346")}
	j := &job{cfg: &DownloaderConfig{}, req: Request{SHA1: wire.SHA1{1}}}
	j.addSources(liar, other)
	j.mu.Lock()
	j.blameLocked(j.srcs[0], ErrHashMismatch)
	j.blameLocked(j.srcs[0], ErrHashMismatch)
	j.mu.Unlock()
	h := string(j.appendMeshHeaders(nil, j.srcs[1]))
	assert.Contains(t, h, "X-NAlt: 10.0.0.1:6346\r\n")
	assert.Equal(t, 1, strings.Count(h, "10.0.0.1:6346"), "%q", h)
}
