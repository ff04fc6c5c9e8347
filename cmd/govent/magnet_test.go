package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// search --magnet prints a magnet per result; the hit came with a
// bitprint in GGEP "H" (our Query sets 0x0800), so the magnet has it, and
// get of that magnet downloads from its xs with every chunk checked
// against the Tiger tree the source serves: the link named the root, so
// the tree alone proves the file and the SHA-1 is not computed. search
// --download of the same hit checks the tree and the SHA-1: the root is
// the hit's word only.
func TestSearchMagnetThenGet(t *testing.T) {
	body := strings.Repeat("magnetic penguin ", 40000) // 680 KB: a tree of depth 2
	s := shareFiles(t, map[string]string{"magnetic penguin.ogg": body})
	code, out, errOut := runCLI(t, "", "search", "magnetic", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--magnet")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	link := regexp.MustCompile(`(?m)^\s+(magnet:\?\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, link, out)
	m, err := wire.ParseMagnet(link[1])
	require.NoError(t, err)
	f := s.Library().All()[0]
	assert.Equal(t, f.SHA1, m.URN.SHA1)
	require.True(t, m.URN.HasTTH, "the bitprint came through GGEP H: %s", link[1])
	assert.Equal(t, f.TTH, m.URN.TTH)
	assert.Equal(t, "magnetic penguin.ogg", m.Name)
	assert.EqualValues(t, len(body), m.Size)
	require.Len(t, m.Sources, 1)
	assert.Equal(t, s.Addr(), m.Sources[0].Addr)

	dir := t.TempDir()
	code, out, errOut = runCLI(t, "", "get", link[1], "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "every chunk checked against its Tiger tree "+f.TTH.String()+", named by the link; SHA-1 not computed)")
	assert.NotContains(t, out, "SHA-1 verified")
	got, err := os.ReadFile(filepath.Join(dir, "magnetic penguin.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))

	dir = t.TempDir()
	code, out, errOut = runCLI(t, "", "search", "magnetic", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--download", "1", "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "SHA-1 verified "+f.SHA1.String()+", every chunk checked against its Tiger tree)")
	got, err = os.ReadFile(filepath.Join(dir, "magnetic penguin.ogg"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}

// A link that names the Tiger root with the SHA-1 (a bitprint, or a
// urn:tree:tiger xt beside the urn:sha1) vouches for both: its download
// is RootNamed. One with the SHA-1 alone has no root to name.
func TestMagnetRequestNamesRoot(t *testing.T) {
	sha := wire.SHA1{1, 2, 3}
	tth := wire.TTH{4, 5, 6}
	sha32 := strings.TrimPrefix(sha.String(), "urn:sha1:")
	tth32 := strings.TrimPrefix(tth.String(), wire.TTHPrefix)
	for _, tc := range []struct {
		name, xt string
		named    bool
	}{
		{"bitprint", "xt=urn:bitprint:" + sha32 + "." + tth32, true},
		{"sha1 and tree:tiger", "xt=urn:sha1:" + sha32 + "&xt=urn:tree:tiger:" + tth32, true},
		{"sha1 alone", "xt=urn:sha1:" + sha32, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _, _, err := magnetRequest("magnet:?" + tc.xt + "&dn=a.ogg&xs=http://10.1.2.3:6346/uri-res/N2R?" + sha.String())
			require.NoError(t, err)
			assert.Equal(t, sha, req.SHA1)
			assert.Equal(t, tc.named, req.HasTTH)
			assert.Equal(t, tc.named, req.RootNamed)
			if tc.named {
				assert.Equal(t, tth, req.TTH)
			}
		})
	}
}

// Magnets get refuses, and one it takes without a source but --source.
func TestGetMagnetShapes(t *testing.T) {
	code, _, errOut := runCLI(t, "", "get", "magnet:?xt=urn:btih:abc&dn=x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "without urn:sha1")
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&dn=x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--source: required: the magnet link names no source")
	// The link's one source is skipped: the error says that is why
	// --source is needed, not as if the link had named none.
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&xs=http://example.com:6346/uri-res/N2R?urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 2, code, "a host name is no source")
	assert.Contains(t, errOut, "skipped: a host name")
	assert.Contains(t, errOut, "--source: required: the magnet link names no source by IP address (1 skipped)")

	// A damaged xt is named with what is wrong: as the error when it was
	// the link's only topic, as a note when another names the file.
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:TOOSHORT", "--dir", t.TempDir())
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `govent get: magnet link without a usable urn:sha1 or urn:bitprint xt: xt "urn:sha1:TOOSHORT": not a SHA-1 (base32, 32 characters; it has 8)`)
	code, _, errOut = runCLI(t, "", "get", "magnet:?xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0&xt=urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `magnet: xt "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0": not a SHA-1 (base32, 32 characters; '0' is not base32)`)
	assert.Contains(t, errOut, "--source: required: the magnet link names no source")
}

// search --magnet --json gives the link as it is pasted, & and all: not
// the \u0026 that encoding/json writes by default for HTML.
func TestSearchMagnetJSONKeepsAmpersands(t *testing.T) {
	s := shareFiles(t, map[string]string{"salt & pepper.ogg": "push it"})
	code, out, errOut := runCLI(t, "", "search", "pepper", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--magnet", "--json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.NotContains(t, out, `\u0026`)
	assert.Contains(t, out, `"name":"salt & pepper.ogg"`)
	assert.Regexp(t, `"magnet":"magnet:\?xt=urn:[^"]*&dn=salt%20%26%20pepper\.ogg&xl=7&xs=http://`, out)
}

// resultMagnet's exact source, per kind of result, and what get makes of
// the link: a firewalled result is gtk-gnutella's push://GUID:PROXY.../path
// (it used to be left out, and get found no source in the link).
func TestResultMagnetSources(t *testing.T) {
	sha := wire.SHA1{1, 2, 3}
	g := wire.GUID{0x48, 0xc8}
	var many []netip.AddrPort
	for i := range wire.MaxPushProxies + 2 {
		many = append(many, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 6346))
	}
	base := "magnet:?xt=urn:sha1:" + strings.TrimPrefix(sha.String(), "urn:sha1:") + "&dn=a.ogg&xl=5"
	for _, tc := range []struct {
		name string
		r    servent.Result
		xs   string // "": none
		want []httpxfer.Source
	}{
		{"direct", servent.Result{Addr: netip.MustParseAddrPort("10.1.2.3:6346")},
			"&xs=http://10.1.2.3:6346/uri-res/N2R?" + sha.String(), []httpxfer.Source{{Addr: netip.MustParseAddrPort("10.1.2.3:6346")}}},
		{"push through two proxies", servent.Result{Push: true, ServentGUID: g, Proxies: many[:2]},
			"&xs=push://" + g.String() + ":10.0.0.1:6346:10.0.0.2:6346/uri-res/N2R?" + sha.String(),
			[]httpxfer.Source{{Push: true, ServentGUID: g, Proxies: many[:2]}}},
		{"push without proxies", servent.Result{Push: true, ServentGUID: g, Addr: netip.MustParseAddrPort("10.1.2.3:6346")},
			"&xs=push://" + g.String() + "/uri-res/N2R?" + sha.String(), []httpxfer.Source{{Push: true, ServentGUID: g}}},
		{"push with more proxies than a link holds", servent.Result{Push: true, ServentGUID: g, Proxies: many},
			"", []httpxfer.Source{{Push: true, ServentGUID: g, Proxies: many[:wire.MaxPushProxies]}}},
		{"no address", servent.Result{}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Name, r.Size, r.SHA1, r.HasSHA1, r.Index = "a.ogg", 5, sha, true, 1
			link := resultMagnet(r)
			if tc.xs != "" {
				assert.Equal(t, base+tc.xs, link)
			}
			req, notes, skipped, err := magnetRequest(link)
			require.NoError(t, err)
			assert.Empty(t, notes)
			assert.Zero(t, skipped)
			assert.Equal(t, tc.want, req.Sources)
		})
	}
}
