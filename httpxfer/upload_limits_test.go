package httpxfer

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addrConn is one end of a net.Pipe that claims to come from remote.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// pipeClient is a downloader on a net.Pipe to u's ServeConn, from addr.
type pipeClient struct {
	conn   net.Conn
	br     *bufio.Reader
	served chan error // ServeConn's result
}

func dialPipe(t *testing.T, ctx context.Context, u *Uploader, addr string) *pipeClient {
	t.Helper()
	client, server := net.Pipe()
	c := &pipeClient{conn: client, br: bufio.NewReader(client), served: make(chan error, 1)}
	remote := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	go func() { c.served <- u.ServeConn(ctx, addrConn{server, remote}, nil) }()
	t.Cleanup(func() { client.Close() })
	return c
}

// get sends a GET and reads the response head.
func (c *pipeClient) get(t *testing.T, target, rng string) *http.Response {
	t.Helper()
	req := "GET " + target + " HTTP/1.1\r\nHost: x\r\n"
	if rng != "" {
		req += "Range: bytes=" + rng + "\r\n"
	}
	_, err := io.WriteString(c.conn, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	return resp
}

// slotHolders hold upload slots from the addresses they are given: a
// one-byte range, then the keep-alive connection stays open until done.
type slotHolders struct {
	t       *testing.T
	u       *Uploader
	ctx     context.Context
	clients []*pipeClient
}

func (h *slotHolders) hold(addr string) int {
	c := dialPipe(h.t, h.ctx, h.u, addr)
	h.clients = append(h.clients, c)
	resp := c.get(h.t, "/get/1/f.bin", "0-0")
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// slotTest runs f in a synctest bubble with an Uploader for cfg sharing
// f.bin, and ends every holder's connection before the bubble ends.
func slotTest(t *testing.T, cfg UploaderConfig, f func(h *slotHolders)) {
	synctest.Test(t, func(t *testing.T) {
		lib := &memLibrary{}
		file, _ := shareFile(t, t.TempDir(), 1, "f.bin", 1000)
		lib.add(file)
		cfg.Library = lib
		ctx, cancel := context.WithCancel(context.Background())
		h := &slotHolders{t: t, u: NewUploader(cfg), ctx: ctx}
		defer func() {
			cancel()
			for _, c := range h.clients {
				<-c.served
			}
		}()
		f(h)
	})
}

// A few neighbours cannot take every slot: besides the 2 per address,
// one /24 (or /48, wire.NetworkOf) gets MaxUploadsPerNet.
func TestUploadSlotsPerNetwork(t *testing.T) {
	slotTest(t, UploaderConfig{}, func(h *slotHolders) { // 8 slots, 2 per address, 4 per network
		for _, a := range []string{"10.1.2.3:1", "10.1.2.3:2", "10.1.2.4:1", "10.1.2.4:2"} {
			require.Equal(t, 206, h.hold(a), a)
		}
		assert.Equal(t, 503, h.hold("10.1.2.5:1"), "a fifth slot for 10.1.2.0/24")
		assert.Equal(t, 503, h.hold("[::ffff:10.1.2.6]:1"), "the same network, IPv4-mapped")
		assert.Equal(t, 206, h.hold("10.1.3.5:1"), "another /24")
		for _, a := range []string{"[2001:db8::1]:1", "[2001:db8::1]:2", "[2001:db8::2]:1"} {
			require.Equal(t, 206, h.hold(a), a)
		}
		assert.Equal(t, 503, h.hold("[2001:db8::3]:1"), "5 would be past 4 per /48 and 8 in all")
		assert.Equal(t, 8, h.u.ActiveUploads())
	})
}

func TestUploadSlotsPerNetworkBelowLimit(t *testing.T) {
	slotTest(t, UploaderConfig{MaxUploads: 20}, func(h *slotHolders) {
		codes := map[int]int{}
		for _, a := range []string{"[2001:db8::1]:1", "[2001:db8::1]:2", "[2001:db8::2]:1", "[2001:db8:0:1::1]:1", "[2001:db8:0:1::2]:1", "[2001:db8:1::1]:1"} {
			codes[h.hold(a)]++
		}
		assert.Equal(t, map[int]int{206: 5, 503: 1}, codes, "4 in 2001:db8::/48 (from two /64s), 1 in 2001:db8:1::/48")
		// Freed slots count again.
		h.clients[0].conn.Close()
		<-h.clients[0].served
		h.clients = h.clients[1:]
		assert.Equal(t, 206, h.hold("[2001:db8::4]:1"))
	})
}

// readAt reads the body at rate bytes/s (in 512-byte reads) until
// stopAfter or the end of the connection, then stops reading.
func readAt(c *pipeClient, rate int, stopAfter time.Duration) {
	buf := make([]byte, 512)
	every := time.Second * 512 / time.Duration(rate)
	start := time.Now()
	for time.Since(start) < stopAfter {
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return
		}
		time.Sleep(every)
	}
}

// A reader below MinUploadRate for SlowUploadTime loses its slot; one
// above it keeps it for as long as it reads.
func TestUploadDropsSlowReader(t *testing.T) {
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "big.bin", 8<<20)
	lib.add(f)
	tests := []struct {
		name      string
		rate      int           // bytes/s the client reads
		stopAfter time.Duration // then it stops reading
		// dropAt is when its rate over the last 30 s falls below 4 KiB/s;
		// it is checked every quarter of that. 0: still served at the end.
		dropAt time.Duration
	}{
		{name: "2 KiB/s from the start", rate: 2 << 10, stopAfter: time.Hour, dropAt: 30 * time.Second},
		{name: "8 KiB/s for 2 minutes", rate: 8 << 10, stopAfter: 2 * time.Minute},
		{name: "8 KiB/s, then nothing", rate: 8 << 10, stopAfter: 45 * time.Second, dropAt: 60 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := NewUploader(UploaderConfig{Library: lib}) // 4 KiB/s over 30 s
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				c := dialPipe(t, ctx, u, "10.0.0.1:1")
				start := time.Now()
				resp := c.get(t, "/get/1/big.bin", "")
				require.Equal(t, 200, resp.StatusCode)
				reading := make(chan struct{})
				go func() {
					defer close(reading)
					readAt(c, tc.rate, tc.stopAfter)
				}()
				// A bubble must not end with its goroutines asleep.
				defer func() { c.conn.Close(); <-reading }()
				if tc.dropAt == 0 {
					time.Sleep(tc.stopAfter - time.Second)
					assert.Equal(t, 1, u.ActiveUploads(), "still served")
					select {
					case err := <-c.served:
						t.Errorf("dropped: %v", err)
					default:
						cancel()
						<-c.served
					}
					return
				}
				err := <-c.served
				took := time.Since(start)
				assert.ErrorIs(t, err, ErrSlowReader)
				assert.GreaterOrEqual(t, took, tc.dropAt)
				assert.LessOrEqual(t, took, tc.dropAt+7500*time.Millisecond)
				assert.Equal(t, 0, u.ActiveUploads(), "slot freed")
			})
		})
	}
}
