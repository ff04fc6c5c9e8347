package servent

import (
	"bufio"
	"context"
	"crypto/sha1"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
)

// A firewalled source the downloader learnt only from another source's
// X-Falt (its GUID and its push proxy; no QueryHit of it ever reached the
// downloader, so there is neither a known proxy nor a Push route) is
// downloaded from: the dialer asks the proxy the X-Falt named, which
// sends the leaf the Push.
func TestDownloadFromFirewalledSourceOfXFalt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFirewalledNet(t, randomBytes(300<<10, 15), false, false)
		sum := wire.SHA1(sha1.Sum(f.body))
		// The named source is busy; its reply names the leaf.
		ln, err := f.n.Host(ip("127.0.0.4")).Listen(context.Background(), "tcp", "127.0.0.4:7000")
		require.NoError(t, err)
		defer ln.Close()
		falt := fmt.Sprintf("X-Falt: %s;%s", f.leaf.GUID(), f.up.Addr())
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer nc.Close()
					if _, err := wire.ReadHTTPHead(bufio.NewReader(nc), wire.HandshakeLimits{}); err != nil {
						return
					}
					_, _ = fmt.Fprintf(nc, "HTTP/1.1 503 Busy\r\nRetry-After: 60\r\n%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", falt)
				}()
			}
		}()
		busy := httpxfer.Source{Addr: netip.MustParseAddrPort("127.0.0.4:7000")}
		got, err := f.down.Download(searchCtx(t), httpxfer.Request{Name: "far away.bin", Size: int64(len(f.body)), SHA1: sum,
			Sources: []httpxfer.Source{busy}})
		require.NoError(t, err)
		f.checkFile(t, got)
		var fromLeaf int64
		for _, st := range got.Sources {
			if st.Source.Push && st.Source.ServentGUID == f.leaf.GUID() {
				fromLeaf = st.Bytes
				assert.Equal(t, []netip.AddrPort{f.up.Addr()}, st.Source.Proxies, "its proxy, from X-Falt")
			}
		}
		assert.Equal(t, int64(len(f.body)), fromLeaf, "the whole file came from the leaf")
		assert.EqualValues(t, 1, f.up.Stats().PushProxy.Sent, "the proxy sent the leaf a Push")
	})
}
