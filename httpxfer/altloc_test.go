package httpxfer

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

func aps(s ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, v := range s {
		out = append(out, netip.MustParseAddrPort(v))
	}
	return out
}

func TestParseAltLocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []netip.AddrPort
	}{
		{"gtk-gnutella compact", []string{"1.2.3.4:6346, 5.6.7.8:12345"}, aps("1.2.3.4:6346", "5.6.7.8:12345")},
		{"default port", []string{"1.2.3.4"}, aps("1.2.3.4:6346")},
		{"leading tls hex skipped", []string{"tls=8, 1.2.3.4:1"}, aps("1.2.3.4:1")},
		{"several lines", []string{"1.2.3.4:1", "5.6.7.8:2"}, aps("1.2.3.4:1", "5.6.7.8:2")},
		{"ipv6", []string{"[2001:db8::1]:6348"}, aps("[2001:db8::1]:6348")},
		{"garbage skipped", []string{"http://x/, 1.2.3.4:0, 0.0.0.0:1, 224.0.0.1:5, 999.1.1.1:1, 9.9.9.9:7"}, aps("9.9.9.9:7")},
		{"old GUID form skipped", []string{"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567;1.2.3.4:5"}, aps("1.2.3.4:5")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseAltLocs(tc.in))
		})
	}
	long := ""
	for i := range 200 {
		long += netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 1).String() + ","
	}
	assert.Len(t, ParseAltLocs([]string{long}), maxAltLocsRead)
}

func TestParseFalt(t *testing.T) {
	g, err := wire.ParseGUID("9DBC52EEEBCA2C8A79036D626B959900")
	require.NoError(t, err)
	// The example of gtk-gnutella's dmesh.c.
	got := ParseFalt([]string{"9DBC52EEEBCA2C8A79036D626B959900;fwt/1;26252:85.182.49.3;pptls=E;69.12.88.95:1085;64.53.20.48:804;66.17.23.159:343"})
	assert.Equal(t, []FirewalledLoc{{GUID: g, Proxies: aps("69.12.88.95:1085", "64.53.20.48:804", "66.17.23.159:343")}}, got)
	got = ParseFalt([]string{"9DBC52EEEBCA2C8A79036D626B959900, nothex;1.2.3.4:5, 9dbc52eeebca2c8a79036d626b959900;1.1.1.1:1"})
	assert.Len(t, got, 2, "the GUID is mandatory, in either case")
	assert.Equal(t, aps("1.1.1.1:1"), got[1].Proxies)
	// What we write reads back.
	b := appendFaltHeader(nil, got, 10)
	assert.Equal(t, "\r\nX-Falt: 9dbc52eeebca2c8a79036d626b959900, 9dbc52eeebca2c8a79036d626b959900;1.1.1.1:1", string(b))
}

// The uploader takes the X-Alt and X-NAlt a downloader sends into the
// mesh (as that downloader's hearsay: TestMeshFloodKeepsGoodSources), and sends X-Falt only to a downloader that reads it.
func TestUploadMeshHeaders(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "m.bin", 1000)
	lib.add(f)
	mesh := NewMesh(0)
	g := wire.NewGUID()
	mesh.AddFirewalled(f.SHA1, netip.MustParseAddr("9.9.9.9"), FirewalledLoc{GUID: g, Proxies: aps("9.9.9.9:9")})
	up := startUploader(t, UploaderConfig{Library: lib, Mesh: mesh})
	c := dialRaw(t, up.addr)
	urn := "/uri-res/N2R?" + f.SHA1.String()

	resp, _ := c.do(t, "HEAD", urn, "X-Alt: 1.2.3.4:5, 6.7.8.9:10", "X-NAlt: 6.7.8.9:10")
	require.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("X-Falt"), "no fwalt in X-Features")
	assert.Equal(t, aps("1.2.3.4:5"), mesh.Good(f.SHA1, 10), "its X-NAlt takes back its own X-Alt")
	assert.False(t, mesh.IsBad(f.SHA1, netip.MustParseAddrPort("6.7.8.9:10")), "one word does not make a source bad")

	resp, _ = c.do(t, "HEAD", urn, "X-Features: browse/1.0, fwalt/0.1")
	assert.Equal(t, "1.2.3.4:5", resp.Header.Get("X-Alt"))
	assert.Equal(t, g.String()+";9.9.9.9:9", resp.Header.Get("X-Falt"))
}
