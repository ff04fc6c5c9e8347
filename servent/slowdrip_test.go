package servent

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/servent/memnet"
)

// A slow-drip flood from one host with many addresses (300 sockets, one
// per address in two /24s, so that no per-address cap is involved, each
// sending its CONNECT one byte a second and reconnecting when dropped)
// does not lock real peers out, Gnutella or HTTP: the flood runs into its
// networks' share of the first-phase places and never fills them.
func TestSlowDripFromManyAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, lockoutConfig(t, n, "127.0.0.1:6346")) // HandshakeTimeout 10 s
		stop := make(chan struct{})
		const drip = "GNUTELLA CONNECT/0.6\r\nUser-Agent: Drip/1.0\r\n"
		dripper := func(h *memnet.Host) {
			for {
				nc, err := h.DialContext(t.Context(), "tcp", s.Addr().String())
				if err != nil {
					return
				}
				for i := 0; ; i = (i + 1) % len(drip) {
					if _, err := nc.Write([]byte{drip[i]}); err != nil {
						break
					}
					select {
					case <-stop:
						nc.Close()
						return
					case <-time.After(time.Second):
					}
				}
				nc.Close()
			}
		}
		for i := range 300 {
			go dripper(n.Host(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i + 1)})))
			time.Sleep(10 * time.Millisecond) // a flood of 100 a second
		}
		var ok, tries int
		for i := range 30 {
			tries++
			p := dialRawFrom(t, n.Host(netip.AddrFrom4([4]byte{127, 3, 0, byte(i + 1)})), s.Addr())
			if i%2 == 0 {
				code, reason, err := p.tryHandshake(rawConnect())
				if err == nil && code == 200 {
					ok++
				} else {
					t.Logf("real peer refused: %d %s %v", code, reason, err)
				}
			} else {
				code, err := p.head("/uri-res/N2R?urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
				if err == nil && code == 404 {
					ok++
				} else {
					t.Logf("real HTTP client refused: %d %v", code, err)
				}
			}
			p.nc.Close()
			time.Sleep(500 * time.Millisecond)
		}
		close(stop)
		assert.Equal(t, tries, ok, "every real peer got in")
		st := s.Stats()
		assert.NotZero(t, st.RefusedPendingPerIP, "the flood was refused at its networks' share")
		assert.Zero(t, st.RefusedPending, "the flood never filled the first-phase places")
	})
}
