package fuzz

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// FuzzContentURN: what ParseContentURN accepts prints in canonical form,
// that form parses to the same digests, and a urn:sha1 that ParseURN
// accepts names the same SHA-1.
func FuzzContentURN(f *testing.F) {
	f.Add("urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	f.Add("urn:bitprint:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O.3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	f.Add("urn:tree:tiger/:3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	f.Add("urn:tree:tiger:3amaeabebd5hebzw666rxbiife5r6ipopvsswk7")
	f.Add("urn:ttroot:3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	f.Add("urn:sha1:ae350b9fea1ca49d4171e949ce9e6213cc010bae")
	f.Add("bitprint:ae350b9fea1ca49d4171e949ce9e6213cc010bae.000102030405060708090a0b0c0d0e0f1011121314151617")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := wire.ParseContentURN([]byte(s))
		if err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			return
		}
		require.True(t, u.HasSHA1 || u.HasTTH, "a parsed urn names something")
		canon := u.String()
		again, err := wire.ParseContentURN([]byte(canon))
		require.NoError(t, err, canon)
		require.Equal(t, u, again)
		require.Equal(t, canon, again.String())
		if d, err := wire.ParseURN(s); err == nil {
			require.Equal(t, wire.URN{SHA1: d, HasSHA1: true}, u)
		}
		if u.HasTTH {
			r, err := wire.ParseTTHBase32([]byte(u.TTH.Base32()))
			require.NoError(t, err)
			require.Equal(t, u.TTH, r)
		}
	})
}

// FuzzMagnet: ParseMagnet stays inside its bounds, and a link it accepts
// formats to a link that parses to the same thing (its notes on skipped
// parameters aside).
func FuzzMagnet(f *testing.F) {
	f.Add("magnet:?xt=urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O&dn=penny+lane.mp3&xl=102400&xs=http://127.0.0.1:6350/uri-res/N2R?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	f.Add("magnet:?dn=penny%20lane.mp3&xl=102400&xt=urn:bitprint:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O.3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI&xs=http://127.0.0.1:6350/uri-res/N2R%3Furn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O")
	f.Add("magnet:?xs=push://48c831020b29cc9f54ca85f81b70fef8:10.1.2.3:6346/uri-res/N2R?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O&as=http://[::1]:6346/get/2/x&kt=penny+lane")
	f.Add("magnet:?xt.1=urn:tree:tiger:3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI&xt.2=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&as=http://Example.org/x")
	f.Add("magnet:?xt=urn:sha1:TOOSHORT&xt=urn:bitprint:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O.3AMAE&xt=sha1:0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g0g&xt=urn:tree:tiger:%C3%A9")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := wire.ParseMagnet(s)
		if err != nil {
			require.ErrorIs(t, err, wire.ErrMalformed)
			return
		}
		require.LessOrEqual(t, len(s), wire.MaxMagnetLen)
		require.LessOrEqual(t, len(m.Sources), wire.MaxMagnetSources)
		require.LessOrEqual(t, len(m.Keywords), wire.MaxMagnetParams)
		require.LessOrEqual(t, len(m.Ignored), 16)
		for _, n := range m.Ignored {
			require.LessOrEqual(t, len(n), 256)
		}
		out := m.String()
		require.True(t, strings.HasPrefix(out, "magnet:?"))
		again, err := wire.ParseMagnet(out)
		require.NoError(t, err, out)
		m.Ignored = nil
		requireSame(t, m, again, "a formatted magnet reads back differently: "+out)
		require.Equal(t, out, again.String())
	})
}
