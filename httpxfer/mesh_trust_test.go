package httpxfer

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// dialRawFrom is dialRaw from a chosen loopback address (any 127.x.y.z is
// ours on Linux), so that a test can play downloaders on several networks.
func dialRawFrom(t *testing.T, addr netip.AddrPort, local string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawClient{conn: conn, br: bufio.NewReader(conn)}
}

// flood is the X-Alt of a hostile downloader: n sources on 172.16.x.y.
func flood(n int) string {
	var b strings.Builder
	b.WriteString("X-Alt: ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "172.16.%d.%d:6346", i/200, i%200+1)
	}
	return b.String()
}

// One downloader's 64 X-Alt entries do not push out the sources the mesh
// had (here 32 from QueryHits, each naming itself): later downloaders
// are sent the same X-Alt as before it came.
func TestMeshFloodKeepsGoodSources(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "m.bin", 1000)
	lib.add(f)
	mesh := NewMesh(0)
	for i := range meshPerFile {
		mesh.Add(f.SHA1, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), 6346))
	}
	up := startUploader(t, UploaderConfig{Library: lib, Mesh: mesh})
	urn := "/uri-res/N2R?" + f.SHA1.String()

	before, _ := dialRaw(t, up.addr).do(t, "HEAD", urn)
	require.NotEmpty(t, before.Header.Get("X-Alt"))
	resp, _ := dialRawFrom(t, up.addr, "127.0.9.1").do(t, "HEAD", urn, flood(64))
	require.Equal(t, 200, resp.StatusCode)
	after, _ := dialRaw(t, up.addr).do(t, "HEAD", urn)
	assert.Equal(t, before.Header.Get("X-Alt"), after.Header.Get("X-Alt"))
	assert.Len(t, mesh.Good(f.SHA1, 1000), meshPerFile)
	assert.NotContains(t, fmt.Sprint(mesh.Good(f.SHA1, 1000)), "172.16.")
}

// A source that served us a verified download stays in the mesh, and in
// the X-Alt we send, whatever one downloader says of it in X-NAlt; it is
// not marked bad for our own downloads either.
func TestMeshNAltSparesVerifiedSource(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "m.bin", 1000)
	lib.add(f)
	mesh := NewMesh(0)
	good := netip.MustParseAddrPort("10.1.2.3:6346")
	j := &job{cfg: &DownloaderConfig{Mesh: mesh}, req: Request{SHA1: f.SHA1}}
	j.addSources(Source{Addr: good})
	j.srcs[0].got = f.Size
	j.reportMesh(Result{Path: "done"}, nil)
	require.Equal(t, []netip.AddrPort{good}, mesh.Good(f.SHA1, 10))

	up := startUploader(t, UploaderConfig{Library: lib, Mesh: mesh})
	urn := "/uri-res/N2R?" + f.SHA1.String()
	resp, _ := dialRawFrom(t, up.addr, "127.0.9.1").do(t, "HEAD", urn, "X-NAlt: "+good.String())
	require.Equal(t, 200, resp.StatusCode)
	assert.False(t, mesh.IsBad(f.SHA1, good))
	after, _ := dialRaw(t, up.addr).do(t, "HEAD", urn)
	assert.Equal(t, good.String(), after.Header.Get("X-Alt"))
}

// An honest mesh still spreads: the X-Alt that downloaders on three
// networks sent us are all passed on, even with a flood beside them.
func TestMeshSpreadsFromSeveralReporters(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "m.bin", 1000)
	lib.add(f)
	mesh := NewMesh(0)
	up := startUploader(t, UploaderConfig{Library: lib, Mesh: mesh})
	urn := "/uri-res/N2R?" + f.SHA1.String()
	var honest []string
	for i, local := range []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"} {
		a, b := fmt.Sprintf("10.%d.0.1:6346", i+1), fmt.Sprintf("10.%d.0.2:6346", i+1)
		honest = append(honest, a, b)
		resp, _ := dialRawFrom(t, up.addr, local).do(t, "HEAD", urn, "X-Alt: "+a+", "+b)
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, _ := dialRawFrom(t, up.addr, "127.0.9.1").do(t, "HEAD", urn, flood(64))
	require.Equal(t, 200, resp.StatusCode)

	after, _ := dialRawFrom(t, up.addr, "127.0.4.1").do(t, "HEAD", urn)
	alt := after.Header.Get("X-Alt")
	for _, h := range honest {
		assert.Contains(t, alt, h)
	}
	assert.LessOrEqual(t, strings.Count(alt, "172.16."), meshPerReporter, "the flood's share: %s", alt)
}

// The trust rule, entry by entry: a network's share, X-NAlt votes, and
// what only our own finding or a verified download changes.
func TestMeshTrustRule(t *testing.T) {
	d := wire.SHA1{1}
	ap := func(a, b, c byte) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, a, b, c}), 6346)
	}
	peer, other := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")
	sameNet := netip.MustParseAddr("192.0.2.200")

	m := NewMesh(0)
	for i := range 10 {
		m.AddFrom(d, peer, ap(1, 0, byte(i)))
	}
	assert.Equal(t, []netip.AddrPort{ap(1, 0, 9), ap(1, 0, 8), ap(1, 0, 7), ap(1, 0, 6)}, m.Good(d, 100),
		"one network keeps its newest meshPerReporter")
	m.AddFrom(d, sameNet, ap(1, 0, 10))
	assert.Len(t, m.Good(d, 100), meshPerReporter, "its /24 is the same reporter")

	m.AddFrom(d, other, ap(2, 0, 1))
	m.AddFrom(d, peer, ap(2, 0, 1))
	m.AddBadFrom(d, peer, ap(2, 0, 1))
	assert.Contains(t, m.Good(d, 100), ap(2, 0, 1), "nor can it take over or remove another's entry")
	m.AddBadFrom(d, sameNet, ap(2, 0, 1))
	m.AddBadFrom(d, netip.MustParseAddr("203.0.113.1"), ap(2, 0, 1))
	assert.Contains(t, m.Good(d, 100), ap(2, 0, 1), "two networks are not enough")
	assert.False(t, m.IsBad(d, ap(2, 0, 1)))
	m.AddBadFrom(d, netip.MustParseAddr("203.0.114.1"), ap(2, 0, 1))
	assert.NotContains(t, m.Good(d, 100), ap(2, 0, 1))
	assert.True(t, m.IsBad(d, ap(2, 0, 1)), "three are")
	m.AddBadFrom(d, peer, ap(1, 0, 9))
	assert.NotContains(t, m.Good(d, 100), ap(1, 0, 9), "a network takes back its own")
	assert.False(t, m.IsBad(d, ap(1, 0, 9)))

	v := ap(3, 0, 1)
	m.AddFrom(d, peer, v)
	m.AddVerified(d, v)
	for _, r := range []netip.Addr{peer, other, sameNet, netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.114.1")} {
		m.AddBadFrom(d, r, v)
	}
	assert.Equal(t, v, m.Good(d, 1)[0], "verified: first, and deaf to X-NAlt")
	m.AddBad(d, v)
	assert.NotContains(t, m.Good(d, 100), v, "our own finding removes it")
	m.AddVerified(d, v)
	assert.Equal(t, v, m.Good(d, 1)[0], "and a later verified download brings it back")

	// A full list of verified sources takes no hearsay; a verified one
	// pushes out hearsay first.
	m = NewMesh(0)
	m.AddFrom(d, peer, ap(4, 0, 1))
	for i := range meshPerFile - 1 {
		m.AddVerified(d, ap(5, byte(i), 1))
	}
	m.AddVerified(d, ap(6, 0, 1))
	assert.NotContains(t, m.Good(d, 100), ap(4, 0, 1))
	assert.Contains(t, m.Good(d, 100), ap(5, 0, 1))
	m.AddFrom(d, other, ap(7, 0, 1))
	assert.NotContains(t, m.Good(d, 100), ap(7, 0, 1))
	assert.Len(t, m.Good(d, 100), meshPerFile)
}

// A source's reply is read by the same rule: its X-NAlt takes back what it
// said in X-Alt, but does not remove a source we verified, nor one that
// another source told us of.
func TestDownloadReplyNAlt(t *testing.T) {
	d := wire.SHA1{1}
	mesh := NewMesh(0)
	verified, told, hearsay := netip.MustParseAddrPort("10.0.0.1:6346"), netip.MustParseAddrPort("10.0.1.1:6346"), netip.MustParseAddrPort("10.0.2.1:6346")
	mesh.AddVerified(d, verified)
	mesh.AddFrom(d, netip.MustParseAddr("192.0.2.1"), told)
	j := &job{cfg: &DownloaderConfig{Mesh: mesh}, req: Request{SHA1: d}}
	src := netip.MustParseAddr("198.51.100.1")
	reply := func(name, value string) *wire.Handshake {
		return &wire.Handshake{Headers: []wire.HandshakeHeader{{Name: name, Value: value}}}
	}
	j.learnAltLocs(src, reply("X-Alt", hearsay.String()))
	require.Contains(t, mesh.Good(d, 10), hearsay)
	j.learnAltLocs(src, reply("X-NAlt", verified.String()+", "+told.String()+", "+hearsay.String()))
	assert.Equal(t, []netip.AddrPort{verified, told}, mesh.Good(d, 10))
}

// Hearsay lives meshLifetime (gtk-gnutella's MAX_LIFETIME, half a day)
// from its reporter's last word on it, so a peer's X-Alt does not name
// the dead for ever; a source that served us a verified file has no
// lifetime.
func TestMeshHearsayLifetime(t *testing.T) {
	d := wire.SHA1{9}
	ap := func(a, b byte) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, a, b, 1}), 6346)
	}
	peer, other := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	m := NewMesh(0)
	m.now = func() time.Time { return now }
	for i := range meshPerReporter {
		m.AddFrom(d, peer, ap(1, byte(i)))
	}
	m.AddFrom(d, other, ap(2, 0))
	m.AddFrom(d, other, ap(2, 1))
	m.AddFirewalled(d, other, FirewalledLoc{GUID: wire.GUID{1}})
	m.AddVerified(d, ap(3, 0))

	now = now.Add(meshLifetime / 2)
	m.AddFrom(d, other, ap(2, 0)) // its reporter says it again
	m.AddFrom(d, peer, ap(2, 1))  // another network's word changes nothing
	m.AddFrom(d, peer, ap(1, 5))  // full share: pushes out its oldest
	now = now.Add(meshLifetime/2 + time.Second)
	assert.ElementsMatch(t, []netip.AddrPort{ap(3, 0), ap(2, 0), ap(1, 5)}, m.Good(d, 100),
		"what was not said again for half a day is gone; the verified source stays")
	assert.Empty(t, m.Firewalled(d, 100))

	now = now.Add(100 * meshLifetime)
	assert.Equal(t, []netip.AddrPort{ap(3, 0)}, m.Good(d, 100), "a verified source has no lifetime")
}

// A reporter's network is its wire.NetworkOf: IPv6 reporters in one /48,
// whatever their /64s, share one reporter's share.
func TestMeshReporterNetworkIPv6(t *testing.T) {
	d := wire.SHA1{8}
	m := NewMesh(0)
	for i := range 2 * meshPerReporter {
		from := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, byte(i), 15: 1})
		m.AddFrom(d, from, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 6346))
	}
	assert.Len(t, m.Good(d, 100), meshPerReporter, "2001:db8:1::/48 is one reporter")
}
