package servent

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent/memnet"
)

// lockoutConfig is memConfig with the per-address limits at their
// defaults, as a servent on the Internet has them.
func lockoutConfig(t testing.TB, n *memnet.Network, listen string) Config {
	cfg := memConfig(t, n, listen)
	cfg.MaxPendingPerIP, cfg.MaxPeersPerIP, cfg.MaxLeavesPerIP = 0, 0, 0
	return cfg
}

// ip is a literal test address.
func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// closedAfter reads p until the servent closes the connection and returns
// how long that took from start, in the bubble's virtual time.
func closedAfter(p *rawPeer, start time.Time) time.Duration {
	_ = p.nc.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, p.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return time.Minute
	}
	return time.Since(start)
}

// One deadline bounds a connection's whole first phase: a peer that sends
// its first bytes just before HandshakeTimeout does not get a second
// HandshakeTimeout for the rest of its handshake (or HTTP request head, or
// GIV line).
func TestFirstPhaseOneDeadline(t *testing.T) {
	for _, tc := range []struct{ name, first string }{
		{"gnutella", "GNUTELLA CONNECT/0.6\r\nUser-Agent: Slow/1.0\r\n"},
		{"http", "GET /get/1/a.mp3 HTTP/1.1\r\n"},
		{"giv", "GIV 0:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := memnet.New()
				cfg := lockoutConfig(t, n, "127.0.0.1:6346")
				cfg.HandshakeTimeout = 5 * time.Second
				s := startServent(t, cfg)
				start := time.Now()
				p := dialRawFrom(t, n.Host(ip("127.0.0.2")), s.Addr())
				time.Sleep(4 * time.Second)
				p.writeString(tc.first)
				took := closedAfter(p, start)
				assert.LessOrEqual(t, took, 5*time.Second+time.Millisecond,
					"the first phase outlived HandshakeTimeout")
				assert.GreaterOrEqual(t, took, 5*time.Second, "closed before HandshakeTimeout")
			})
		})
	}
}

// head sends a keep-alive HEAD on p and reads the answer's status.
func (p *rawPeer) head(target string) (int, error) {
	p.writeString("HEAD " + target + " HTTP/1.1\r\nUser-Agent: Raw/1.0\r\n\r\n")
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// isOpen reports whether the servent still holds p open: a read waits
// instead of seeing the end of the stream.
func (p *rawPeer) isOpen() bool {
	_ = p.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := p.br.Peek(1)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A keep-alive HTTP session leaves the first phase with its first request:
// 128 sockets that send a HEAD now and then (from 128 addresses, so no
// per-address cap is involved) no longer refuse new Gnutella, HTTP and GIV
// connections. The sessions count against the uploader's session limit
// instead, which closes the idlest ones to serve newcomers.
func TestHTTPKeepAliveLeavesFirstPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := lockoutConfig(t, n, "127.0.0.1:6346")
		cfg.ShareDir = shareDir(t, map[string]string{"song.mp3": "la la la"})
		s := startServent(t, cfg)
		var idle []*rawPeer
		for i := range 128 {
			p := dialRawFrom(t, n.Host(netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)})), s.Addr())
			code, err := p.head("/get/1/nothing.mp3")
			require.NoError(t, err, "HEAD %d", i)
			require.Equal(t, http.StatusNotFound, code, "HEAD %d", i)
			idle = append(idle, p)
		}
		time.Sleep(30 * time.Second) // they idle, as between two HEADs a minute apart

		g := dialRawFrom(t, n.Host(ip("127.0.0.3")), s.Addr())
		g.handshake06()

		h := dialRawFrom(t, n.Host(ip("127.0.0.4")), s.Addr())
		code, err := h.head("/get/1/nothing.mp3")
		require.NoError(t, err, "a new HTTP client is served")
		assert.Equal(t, http.StatusNotFound, code)

		v := dialRawFrom(t, n.Host(ip("127.0.0.5")), s.Addr())
		v.writeString("GIV 0:" + s.GUID().String() + "/song.mp3\n\n")
		v.expectClosed() // no Push of ours asked for it: read, then closed
		assert.Zero(t, s.Stats().RefusedPending, "no connection was refused for want of a first-phase slot")

		open := 0
		for _, p := range idle {
			if p.isOpen() {
				open++
			}
		}
		assert.LessOrEqual(t, open, httpxfer.DefaultMaxSessions, "idle sessions beyond the session limit were closed")
	})
}

// tryHandshake sends the CONNECT block connect from p and returns the
// answer's status code and reason, without failing the test.
func (p *rawPeer) tryHandshake(connect string) (int, string, error) {
	if _, err := p.nc.Write([]byte(connect)); err != nil {
		return 0, "", err
	}
	ans, err := p.readBlock()
	if err != nil {
		return 0, "", err
	}
	_, code, reason, err := ans.ParseStatus()
	if err == nil && code == 200 {
		_, err = p.nc.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
	}
	return code, reason, err
}

// A flood of idle sockets from one address (100 a second for 10 s, each
// left silent until the servent gives up on it) no longer refuses a real
// peer from another address: the flood runs into its own per-address cap.
func TestIdleFloodFromOneAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, lockoutConfig(t, n, "127.0.0.1:6346"))
		flooder := n.Host(ip("127.0.0.2"))
		stop := make(chan struct{})
		flooded := make(chan []net.Conn)
		go func() {
			var conns []net.Conn
			defer func() { flooded <- conns }()
			for range 1000 {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if nc, err := flooder.DialContext(t.Context(), "tcp", s.Addr().String()); err == nil {
					conns = append(conns, nc)
				}
			}
		}()
		time.Sleep(time.Second) // the flood is under way
		real := n.Host(ip("127.0.0.3"))
		var ok, tries int
		for range 40 {
			tries++
			p := dialRawFrom(t, real, s.Addr())
			code, reason, err := p.tryHandshake(rawConnect())
			if err == nil && code == 200 {
				ok++
			} else {
				t.Logf("real peer refused: %d %s %v", code, reason, err)
			}
			p.nc.Close()
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		for _, nc := range <-flooded {
			nc.Close()
		}
		assert.Equal(t, tries, ok, "every real peer got in")
		st := s.Stats()
		assert.NotZero(t, st.RefusedPendingPerIP, "the flood was refused at its address's cap")
		assert.Zero(t, st.RefusedPending, "the flood never filled the first-phase places")
	})
}

// Refused before saying anything, a connection that then speaks gets a
// status line in its own protocol.
func TestEarlyRefusalSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		cfg := lockoutConfig(t, n, "127.0.0.1:6346")
		cfg.MaxPendingPerIP = 2
		s := startServent(t, cfg)
		h := n.Host(ip("127.0.0.2"))
		dialRawFrom(t, h, s.Addr()) // two silent ones fill the address's share
		dialRawFrom(t, h, s.Addr())
		synctest.Wait()

		g := dialRawFrom(t, h, s.Addr())
		code, reason, err := g.tryHandshake(rawConnect())
		require.NoError(t, err)
		assert.Equal(t, 503, code)
		assert.Equal(t, reasonPerAddress, reason)

		w := dialRawFrom(t, h, s.Addr())
		status, err := w.head("/get/1/a.mp3")
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status)
		assert.EqualValues(t, 2, s.Stats().RefusedPendingPerIP)
	})
}

// One address holds at most its share of ultrapeer and leaf slots; the
// rest of its handshakes are answered 503, and another address still gets
// in.
func TestOneAddressCannotHoldAllSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		s := startServent(t, lockoutConfig(t, n, "127.0.0.1:6346"))
		hog := n.Host(ip("127.0.0.2"))
		accepted := map[string]int{}
		for _, kind := range []struct{ name, connect string }{{"leaf", leafConnect}, {"ultrapeer", rawConnect()}} {
			for range 40 {
				p := dialRawFrom(t, hog, s.Addr())
				code, reason, err := p.tryHandshake(kind.connect)
				require.NoError(t, err)
				if code == 200 {
					accepted[kind.name]++
					continue
				}
				assert.Equal(t, 503, code)
				assert.Equal(t, reasonPerAddress, reason)
			}
		}
		synctest.Wait()
		assert.Equal(t, DefaultMaxLeavesPerIP, accepted["leaf"])
		assert.Equal(t, DefaultMaxPeersPerIP, accepted["ultrapeer"])
		assert.EqualValues(t, 80-DefaultMaxLeavesPerIP-DefaultMaxPeersPerIP, s.Stats().RefusedPerIP)

		other := n.Host(ip("127.0.0.3"))
		for _, header := range []string{leafConnect, rawConnect()} {
			p := dialRawFrom(t, other, s.Addr())
			code, reason, err := p.tryHandshake(header)
			require.NoError(t, err)
			assert.Equal(t, 200, code, "%q: %s", header, reason)
		}
		synctest.Wait()
		assert.Len(t, s.Peers(), DefaultMaxLeavesPerIP+DefaultMaxPeersPerIP+2)
	})
}
