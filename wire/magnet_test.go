package wire

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pennyURN(t *testing.T) URN {
	t.Helper()
	u, err := ParseContentURN([]byte("urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32))
	require.NoError(t, err)
	return u
}

// Magnet links in the shapes deployed servents and web sites write them,
// and broken ones.
func TestParseMagnet(t *testing.T) {
	both := pennyURN(t)
	sha1Only := URN{SHA1: both.SHA1, HasSHA1: true}
	tthOnly := URN{TTH: both.TTH, HasTTH: true}
	bitprint := "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32
	guid := "48c831020b29cc9f54ca85f81b70fef8"
	gtkgGUID, err := ParseGUID(guid)
	require.NoError(t, err)
	ap := netip.MustParseAddrPort

	cases := []struct {
		name string
		in   string
		want Magnet
	}{
		{
			// magnet_to_string: dn, xl, xt, xs; '?' in the source escaped.
			name: "gtk-gnutella's own",
			in:   "magnet:?dn=penny%20lane.mp3&xl=102400&xt=" + bitprint + "&xs=http://127.0.0.1:6350/uri-res/N2R%3F" + bitprint,
			want: Magnet{URN: both, Name: "penny lane.mp3", Size: 102400, HasSize: true, Sources: []MagnetSource{
				{Exact: true, Addr: ap("127.0.0.1:6350"), Path: "/uri-res/N2R?" + bitprint, URN: both},
			}},
		},
		{
			name: "LimeWire: sha1 with a uri-res source, '+' for spaces",
			in:   "magnet:?xt=urn:sha1:" + pennySHA1B32 + "&dn=penny+lane.mp3&xs=http://10.0.0.7:6346/uri-res/N2R?urn:sha1:" + pennySHA1B32,
			want: Magnet{URN: sha1Only, Name: "penny lane.mp3", Sources: []MagnetSource{
				{Exact: true, Addr: ap("10.0.0.7:6346"), Path: "/uri-res/N2R?urn:sha1:" + pennySHA1B32, URN: sha1Only},
			}},
		},
		{
			name: "numbered keys of the magnet draft",
			in:   "magnet:?xt.1=urn:sha1:" + pennySHA1B32 + "&xt.2=urn:tree:tiger:" + pennyTTHB32 + "&dn.1=penny%20lane.mp3",
			want: Magnet{URN: both, Name: "penny lane.mp3"},
		},
		{
			name: "Shareaza: several xt for several networks",
			in:   "magnet:?xt=" + bitprint + "&xt=urn:ed2khash:0123456789abcdef0123456789abcdef&xt=urn:md5:0123456789abcdef0123456789abcdef&xl=102400&dn=penny%20lane.mp3",
			want: Magnet{URN: both, Name: "penny lane.mp3", Size: 102400, HasSize: true},
		},
		{
			name: "Direct Connect: tree:tiger without the slash",
			in:   "magnet:?xt=urn:tree:tiger:" + pennyTTHB32 + "&xl=102400&dn=penny+lane.mp3",
			want: Magnet{URN: tthOnly, Name: "penny lane.mp3", Size: 102400, HasSize: true},
		},
		{
			name: "upper-case scheme and keys, hex sha1",
			in:   "MAGNET:?XT=URN:SHA1:" + pennySHA1Hex + "&DN=x",
			want: Magnet{URN: sha1Only, Name: "x"},
		},
		{
			name: "push source through two push-proxies, alternate source by host name",
			in: "magnet:?xt=urn:sha1:" + pennySHA1B32 +
				"&xs=push://" + guid + ":10.1.2.3:6346:10.4.5.6:6347/uri-res/N2R?urn:sha1:" + pennySHA1B32 +
				"&as=http://Gnutella.Example.org/get/2/penny%2520lane.mp3",
			want: Magnet{URN: sha1Only, Sources: []MagnetSource{
				{Exact: true, Push: true, GUID: gtkgGUID, Proxies: []netip.AddrPort{ap("10.1.2.3:6346"), ap("10.4.5.6:6347")},
					Path: "/uri-res/N2R?urn:sha1:" + pennySHA1B32, URN: sha1Only},
				{Host: "gnutella.example.org", Port: 80, Path: "/get/2/penny%20lane.mp3"},
			}},
		},
		{
			name: "push source without proxies",
			in:   "magnet:?xs=push://" + guid + "/uri-res/N2R?urn:sha1:" + pennySHA1B32,
			want: Magnet{URN: sha1Only, Sources: []MagnetSource{
				{Exact: true, Push: true, GUID: gtkgGUID, Path: "/uri-res/N2R?urn:sha1:" + pennySHA1B32, URN: sha1Only},
			}},
		},
		{
			name: "IPv6 source",
			in:   "magnet:?xt=urn:sha1:" + pennySHA1B32 + "&xs=http://[::1]:6346/uri-res/N2R?urn:sha1:" + pennySHA1B32,
			want: Magnet{URN: sha1Only, Sources: []MagnetSource{
				{Exact: true, Addr: ap("[::1]:6346"), Path: "/uri-res/N2R?urn:sha1:" + pennySHA1B32, URN: sha1Only},
			}},
		},
		{
			name: "keyword topics only: a search",
			in:   "magnet:?kt=penny+lane&kt=%20beatles%20&&",
			want: Magnet{Keywords: []string{"penny lane", "beatles"}},
		},
		{
			name: "BitTorrent link: nothing for Gnutella, but not an error",
			in:   "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=x&tr=udp%3A%2F%2Ftracker.example%3A80",
			want: Magnet{Name: "x"},
		},
		{
			name: "first dn wins; invalid UTF-8 replaced",
			in:   "magnet:?dn=%FFab&dn=second",
			want: Magnet{Name: "\uFFFDab"},
		},
		{
			name: "skipped parameters are noted",
			in: "magnet:?xt=urn:sha1:" + pennySHA1B32 + "&xl=-5&xs=ftp://10.0.0.1/x&xs=http://10.0.0.1:70000/x" +
				"&dn=%zz&xs=push://nothex/x&xs=http://10.0.0.1/uri-res/N2R?urn:sha1:" + strings.Repeat("A", 32) +
				"&xs=http://bad_host/x&xs=push://" + guid + ":10.1.2.3/x",
			want: Magnet{URN: sha1Only, Ignored: []string{
				"xl=-5: not a length",
				`xs: source "ftp://10.0.0.1/x": not http:// or push://`,
				`xs: source "http://10.0.0.1:70000/x": bad host or port`,
				"dn: bad escape",
				`xs: push source "push://nothex/x": bad GUID`,
				"xs: source for another file",
				`xs: source "http://bad_host/x": bad host name`,
				`xs: push source "push://` + guid + `:10.1.2.3/x": bad push-proxy list`,
			}},
		},
		{
			// Topics as links carry them once damaged: cut short in a copy
			// or by a web page, an 'O' typed as '0', a space pasted after
			// it, a bitprint that lost its Tiger root. Each is noted with
			// what is wrong; the sound one names the file.
			name: "damaged topics are noted",
			in: "magnet:?xt=urn:sha1:TOOSHORT&xt=urn:sha1:" + pennySHA1B32[:31] + "0" +
				"&xt=urn:sha1:" + pennySHA1B32 + "%20&xt=urn:sha1:&xt.2=sha1:" + strings.Repeat("0g", 20) +
				"&xt=urn:bitprint:" + pennySHA1B32 + "&xt=urn:bitprint:" + pennySHA1B32[:30] + "." + pennyTTHB32 +
				"&xt=urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32[:20] + "&xt=urn:tree:tiger:" + pennyTTHB32[:38] + "1" +
				"&xt=urn:bitprint:" + pennySHA1Hex + "." + pennyTTHB32 + "&xt=urn:tree:tiger/:" +
				"&xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xt=urn:sha1:" + pennySHA1B32,
			want: Magnet{URN: sha1Only, Ignored: []string{
				`xt "urn:sha1:TOOSHORT": not a SHA-1 (base32, 32 characters; it has 8)`,
				`xt "urn:sha1:` + pennySHA1B32[:31] + `0": not a SHA-1 (base32, 32 characters; '0' is not base32)`,
				`xt "urn:sha1:` + pennySHA1B32 + ` ": not a SHA-1 (base32, 32 characters; it has 33)`,
				`xt "urn:sha1:": not a SHA-1 (base32, 32 characters; it has 0)`,
				`xt "sha1:` + strings.Repeat("0g", 20) + `": not a SHA-1 (hex, 40 digits; 'g' is not a hex digit)`,
				`xt "urn:bitprint:` + pennySHA1B32 + `": not a bitprint (SHA-1.Tiger root; it has no '.')`,
				`xt "urn:bitprint:` + pennySHA1B32[:30] + "." + pennyTTHB32[:20] + `": not a bitprint (its SHA-1: base32, 32 characters; it has 30)`,
				`xt "urn:bitprint:` + pennySHA1B32 + "." + pennyTTHB32[:18] + `": not a bitprint (its Tiger root: base32, 39 characters; it has 20)`,
				`xt "urn:tree:tiger:` + pennyTTHB32[:38] + `1": not a Tiger tree root (base32, 39 characters; '1' is not base32)`,
				`xt "urn:bitprint:` + pennySHA1Hex + "." + pennyTTHB32[:10] + `": not a bitprint (a SHA-1 in hex wants its Tiger root in hex)`,
				`xt "urn:tree:tiger/:": not a Tiger tree root (base32, 39 characters; it has 0)`,
			}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseMagnet(c.in)
			require.NoError(t, err)
			assert.Equal(t, &c.want, got)
			// What we format reads back as the same link.
			again, err := ParseMagnet(got.String())
			require.NoError(t, err, got.String())
			want := *got
			want.Ignored = nil
			assert.Equal(t, &want, again, got.String())
		})
	}

	broken := []struct{ name, in string }{
		{"not a magnet", "http://10.0.0.1/uri-res/N2R?urn:sha1:" + pennySHA1B32},
		{"no question mark", "magnet:xt=urn:sha1:" + pennySHA1B32},
		{"empty", ""},
		{"two different files", "magnet:?xt=urn:sha1:" + pennySHA1B32 + "&xt=urn:sha1:" + strings.Repeat("A", 32)},
		{"two different tree roots", "magnet:?xt=urn:tree:tiger:" + pennyTTHB32 + "&xt=" + "urn:bitprint:" + pennySHA1B32 + "." + strings.Repeat("A", 39)},
		{"over the length bound", "magnet:?dn=" + strings.Repeat("a", MaxMagnetLen)},
		{"over the parameter bound", "magnet:?" + strings.Repeat("kt=a&", MaxMagnetParams+1)},
		{"over the source bound", "magnet:?" + strings.Repeat("xs=http://10.0.0.1/&", MaxMagnetSources+1)},
	}
	for _, c := range broken {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMagnet(c.in)
			assert.ErrorIs(t, err, ErrMagnet)
			assert.ErrorIs(t, err, ErrMalformed, "still a malformed payload to a caller that asks")
			// A user reads this: no protocol jargon.
			assert.True(t, strings.HasPrefix(err.Error(), "magnet link: "), "%v", err)
			assert.NotContains(t, err.Error(), "payload")
		})
	}
	_, err = ParseMagnet("http://10.0.0.1/")
	assert.EqualError(t, err, `magnet link: "http://10.0.0.1/" does not start with magnet:?`)
}

// What `search --magnet` prints for a hit: xt (bitprint when the tree root
// is known), dn escaped, xl, the responder as an xs uri-res source.
func TestMagnetString(t *testing.T) {
	both := pennyURN(t)
	m := Magnet{
		URN: both, Name: "penny lane & friends+1 100%.mp3", Size: 102400, HasSize: true,
		Sources: []MagnetSource{
			{Exact: true, Addr: netip.MustParseAddrPort("10.0.0.7:6346"), Path: "/uri-res/N2R?" + both.String()},
			{Push: true, GUID: GUID{0x48, 0xc8}, Proxies: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.3:6346")}, Path: "/uri-res/N2R?urn:sha1:" + pennySHA1B32},
		},
		Keywords: []string{"penny lane"},
	}
	bitprint := "urn:bitprint:" + pennySHA1B32 + "." + pennyTTHB32
	assert.Equal(t, "magnet:?xt="+bitprint+
		"&dn=penny%20lane%20%26%20friends%2B1%20100%25.mp3&xl=102400"+
		"&xs=http://10.0.0.7:6346/uri-res/N2R?"+bitprint+
		"&as=push://48c80000000000000000000000000000:10.1.2.3:6346/uri-res/N2R?urn:sha1:"+pennySHA1B32+
		"&kt=penny%20lane", m.String())

	sha1Only := Magnet{URN: URN{SHA1: both.SHA1, HasSHA1: true}, Name: "a", Sources: []MagnetSource{{Exact: true, Host: "example.org", Port: 80}}}
	assert.Equal(t, "magnet:?xt=urn:sha1:"+pennySHA1B32+"&dn=a&xs=http://example.org/", sha1Only.String())
	assert.Equal(t, "magnet:?", (&Magnet{}).String())
}
