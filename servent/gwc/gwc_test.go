package gwc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
)

// fakeCache serves h on n at addr and returns a client that reaches it
// through n, and the requests' queries as they came.
func fakeCache(t *testing.T, n *memnet.Network, addr string, h http.HandlerFunc) (*Client, *[]string) {
	t.Helper()
	ln, err := n.Listen(context.Background(), "tcp", addr)
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		h(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, network, a string) (net.Conn, error) { return n.DialContext(ctx, network, a) },
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{HTTP: &http.Client{Transport: tr}, Version: "0.1"}, &seen
}

func TestV2Answer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, seen := fakeCache(t, memnet.New(), "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "I|pong|SomeCache 1.0\nH|1.2.3.4:6346|120\nh|5.6.7.8:6347\nH|garbage\nH|9.9.9.9:0\nU|http://other.example/gwc.php|300\nU|ftp://nope/\nI|update|OK\n")
		})
		a, err := c.Fetch(context.Background(), "http://10.0.0.1/gwc.php")
		require.NoError(t, err)
		assert.Equal(t, 2, a.Version)
		assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:6346"), netip.MustParseAddrPort("5.6.7.8:6347")}, a.Hosts)
		assert.Equal(t, []string{"http://other.example/gwc.php"}, a.Caches)
		require.Len(t, *seen, 1)
		assert.Contains(t, (*seen)[0], "get=1")
		assert.Contains(t, (*seen)[0], "net=gnutella")
		assert.Contains(t, (*seen)[0], "client=GOVT")
		assert.Contains(t, (*seen)[0], "version=0.1")
	})
}

func TestV1Fallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, seen := fakeCache(t, memnet.New(), "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Query().Get("hostfile") == "1":
				fmt.Fprint(w, "1.2.3.4:6346\r\nnot a host\r\n5.6.7.8:6346\r\n")
			case r.URL.Query().Get("urlfile") == "1":
				fmt.Fprint(w, "http://a.example/cache.cgi\nhttps://b.example/\njunk\n")
			default:
				fmt.Fprint(w, "ERROR\n")
			}
		})
		a, err := c.Fetch(context.Background(), "http://10.0.0.1/cache.cgi")
		require.NoError(t, err)
		assert.Equal(t, 1, a.Version)
		assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:6346"), netip.MustParseAddrPort("5.6.7.8:6346")}, a.Hosts)
		assert.Equal(t, []string{"http://a.example/cache.cgi", "https://b.example/"}, a.Caches)
		assert.Len(t, *seen, 3, "v2, then hostfile and urlfile")
	})
}

func TestGarbageAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		c, _ := fakeCache(t, n, "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("\x00\xff<html>not a cache</html>\n|||\nH|\n"))
		})
		_, err := c.Fetch(context.Background(), "http://10.0.0.1/")
		assert.ErrorIs(t, err, ErrNothing)

		c, _ = fakeCache(t, n, "10.0.0.2:80", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "gone", http.StatusNotFound)
		})
		_, err = c.Fetch(context.Background(), "http://10.0.0.2/")
		assert.ErrorContains(t, err, "404")

		_, err = c.Fetch(context.Background(), "http://10.0.0.3/") // nobody listens
		assert.Error(t, err)

		for _, bad := range []string{"ftp://10.0.0.1/", "http:///x", "http://user:pw@10.0.0.1/", "::"} {
			_, err := c.Fetch(context.Background(), bad)
			assert.Error(t, err, bad)
		}
	})
}

func TestSlowCacheTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c, _ := fakeCache(t, memnet.New(), "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		c.Timeout = 5 * time.Second
		start := time.Now()
		_, err := c.Fetch(context.Background(), "http://10.0.0.1/")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.EqualError(t, err, "no answer in 5s")
		assert.Equal(t, 5*time.Second, time.Since(start), "the whole exchange is bounded")
	})
}

func TestOversizedAnswerIsCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := fakeCache(t, memnet.New(), "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			// Far past MaxResponse: hosts first, then an endless line.
			for i := range 200 {
				fmt.Fprintf(w, "H|1.2.%d.%d:6346\n", i/250, i%250+1)
			}
			w.Write([]byte(strings.Repeat("x", 4*MaxResponse)))
		})
		a, err := c.Fetch(context.Background(), "http://10.0.0.1/")
		// Reading stops at MaxResponse, mid-line; the hosts before count.
		require.NoError(t, err)
		assert.Len(t, a.Hosts, MaxHosts)

		c, _ = fakeCache(t, memnet.New(), "10.0.0.2:80", func(w http.ResponseWriter, r *http.Request) {
			for i := range 10000 {
				fmt.Fprintf(w, "H|1.%d.%d.%d:6346\n", i/62500, i/250%250, i%250+1)
			}
		})
		a, err = c.Fetch(context.Background(), "http://10.0.0.2/")
		require.NoError(t, err)
		assert.Len(t, a.Hosts, MaxHosts, "a long list is bounded")
	})
}

// A failure says what went wrong, not which cache (the caller gave the
// URL and logs it beside) nor net/http's `Get "URL?query":` and Go's
// "dial tcp A: connect:".
func TestErrorsNameNeitherCacheNorGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		c, _ := fakeCache(t, n, "10.0.0.1:80", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "gone", http.StatusNotFound)
		})
		_, err := c.Fetch(context.Background(), "http://10.0.0.1/gwc.php")
		assert.EqualError(t, err, "404 Not Found")

		_, err = c.Fetch(context.Background(), "http://10.0.0.3/gwc.php") // nobody listens
		assert.EqualError(t, err, "connect to 10.0.0.3:80: connection refused")
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)

		c, _ = fakeCache(t, n, "10.0.0.2:80", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("get") == "1" {
				w.Write([]byte("ERROR\n")) // v2 gives nothing: v1 is asked
				return
			}
			http.Error(w, "no", http.StatusForbidden)
		})
		_, err = c.Fetch(context.Background(), "http://10.0.0.2/gwc.php")
		assert.EqualError(t, err, "nothing usable in v2, and v1: 403 Forbidden")

		c, _ = fakeCache(t, n, "10.0.0.4:80", func(w http.ResponseWriter, r *http.Request) {})
		_, err = c.Fetch(context.Background(), "http://10.0.0.4/gwc.php")
		assert.EqualError(t, err, "no hosts and no caches in the answer")
		assert.ErrorIs(t, err, ErrNothing)
	})
}
