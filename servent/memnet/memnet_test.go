package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair dials a fresh listener and returns both ends.
func pair(t *testing.T, n *Network) (client, server net.Conn) {
	t.Helper()
	ln, err := n.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err = n.Dial(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestStreamBothWaysThenEOF(t *testing.T) {
	client, server := pair(t, New())
	go func() {
		client.Write([]byte("GNUTELLA CONNECT/0.6\r\n\r\n"))
		client.Close()
	}()
	b, err := io.ReadAll(server)
	require.NoError(t, err)
	assert.Equal(t, "GNUTELLA CONNECT/0.6\r\n\r\n", string(b))
	_, err = server.Write([]byte("x"))
	assert.True(t, errors.Is(err, syscall.ECONNRESET), "write to a closed peer: %v", err)
}

func TestAddressesAreTCPAddrs(t *testing.T) {
	n := New()
	ln, err := n.Listen(context.Background(), "tcp", "127.0.0.5:6346")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	c, err := n.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.9"), "tcp", "127.0.0.5:6346")
	require.NoError(t, err)
	defer c.Close()
	la, ok := c.LocalAddr().(*net.TCPAddr)
	require.True(t, ok)
	assert.Equal(t, "127.0.0.9", la.AddrPort().Addr().String())
	assert.Equal(t, "127.0.0.5:6346", c.RemoteAddr().String())
}

func TestUnspecifiedListenerTakesAnyAddress(t *testing.T) {
	n := New()
	ln, err := n.Listen(context.Background(), "tcp", ":7000")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := n.Dial(context.Background(), "tcp", "127.0.0.3:7000")
	require.NoError(t, err)
	c.Close()
}

func TestRefusedAndInUse(t *testing.T) {
	n := New()
	_, err := n.Dial(context.Background(), "tcp", "127.0.0.1:1")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "%v", err)
	ln, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
	require.NoError(t, err)
	_, err = n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
	assert.True(t, errors.Is(err, syscall.EADDRINUSE), "%v", err)
	ln.Close()
	_, err = n.Dial(context.Background(), "tcp", "127.0.0.1:6346")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "after Close: %v", err)
	_, err = ln.Accept()
	assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
}

func TestHostNamesAreNotResolved(t *testing.T) {
	n := New()
	_, err := n.Dial(context.Background(), "tcp", "localhost:6346")
	assert.ErrorContains(t, err, "not a literal IP")
	_, err = n.Listen(context.Background(), "udp", "127.0.0.1:0")
	assert.Error(t, err)
	_, err = n.Host(netip.MustParseAddr("127.0.0.2")).LookupNetIP(context.Background(), "ip", "localhost")
	var dnsErr *net.DNSError
	assert.ErrorAs(t, err, &dnsErr)
}

// A deadline times out in virtual time, and moving it interrupts a blocked
// Read at once, as the servent does to stop its reader.
func TestReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pair(t, New())
		start := time.Now()
		server.SetReadDeadline(start.Add(10 * time.Minute))
		_, err := server.Read(make([]byte, 1))
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
		assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
		assert.Equal(t, 10*time.Minute, time.Since(start))

		// A timeout is not sticky: a new deadline and new data read fine.
		server.SetReadDeadline(time.Now().Add(time.Minute))
		client.Write([]byte("ping"))
		b := make([]byte, 4)
		_, err = io.ReadFull(server, b)
		require.NoError(t, err)

		done := make(chan error, 1)
		server.SetReadDeadline(time.Time{})
		go func() {
			_, err := server.Read(b)
			done <- err
		}()
		synctest.Wait()
		server.SetReadDeadline(time.Now())
		assert.True(t, errors.Is(<-done, os.ErrDeadlineExceeded))
	})
}

// A deadline in the past wins over buffered data, as on a socket.
func TestExpiredDeadlineBeatsData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pair(t, New())
		client.Write([]byte("x"))
		server.SetReadDeadline(time.Now())
		_, err := server.Read(make([]byte, 1))
		assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	})
}

// A writer blocks while its peer's buffer is full and resumes as the peer
// reads: TCP's back pressure.
func TestBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		n.BufferSize = 1000
		client, server := pair(t, n)
		wrote := make(chan int, 1)
		go func() {
			k, _ := client.Write(make([]byte, 2500))
			wrote <- k
		}()
		synctest.Wait()
		select {
		case <-wrote:
			t.Fatal("a write of 2500 bytes into a 1000-byte buffer did not block")
		default:
		}
		got, err := io.ReadFull(server, make([]byte, 2500))
		require.NoError(t, err)
		assert.Equal(t, 2500, got)
		assert.Equal(t, 2500, <-wrote)

		client.SetWriteDeadline(time.Now().Add(time.Second))
		_, err = client.Write(make([]byte, 2000))
		assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	})
}

// CloseWrite lets the peer read to EOF while we still read its answer.
func TestHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pair(t, New())
		client.Write([]byte("bye"))
		require.NoError(t, client.(*Conn).CloseWrite())
		b, err := io.ReadAll(server)
		require.NoError(t, err)
		assert.Equal(t, "bye", string(b))
		server.Write([]byte("ok"))
		server.Close()
		b, err = io.ReadAll(client)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(b))
		_, err = client.Write([]byte("more"))
		assert.Error(t, err)
	})
}

// Closing our end wakes our own blocked reader and writer.
func TestCloseWakesLocalWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		n.BufferSize = 10
		client, _ := pair(t, n)
		rerr, werr := make(chan error, 1), make(chan error, 1)
		go func() { _, err := client.Read(make([]byte, 1)); rerr <- err }()
		go func() { _, err := client.Write(make([]byte, 100)); werr <- err }()
		synctest.Wait()
		client.Close()
		assert.True(t, errors.Is(<-rerr, net.ErrClosed))
		assert.True(t, errors.Is(<-werr, net.ErrClosed))
	})
}

func TestHostDialsFromItsAddress(t *testing.T) {
	n := New()
	ln, err := n.Listen(context.Background(), "tcp", "127.0.0.1:6346")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan net.Addr, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			got <- c.RemoteAddr()
			c.Close()
		}
	}()
	c, err := n.Host(netip.MustParseAddr("127.0.0.7")).DialContext(context.Background(), "tcp", "127.0.0.1:6346")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "127.0.0.7", (<-got).(*net.TCPAddr).AddrPort().Addr().String())
}

// TestDialRacingCloseIsNeverLeftHanging: a dial that meets a listener
// while it closes is refused, or gets a connection the close resets; it
// is never queued where no Accept will take it (a control check that
// dialled a servent as it went down saw it hang, not refused).
func TestDialRacingCloseIsNeverLeftHanging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		hung, refused, reset := 0, 0, 0
		for range 20000 {
			ln, err := n.Listen(context.Background(), "tcp", "127.0.0.1:0")
			require.NoError(t, err)
			closed := make(chan struct{})
			go func() { ln.Close(); close(closed) }()
			c, err := n.Dial(context.Background(), "tcp", ln.Addr().String())
			<-closed
			if err != nil {
				require.ErrorIs(t, err, syscall.ECONNREFUSED)
				refused++
				continue
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				hung++
				continue
			}
			require.ErrorIs(t, err, io.EOF)
			reset++
		}
		t.Logf("refused %d, reset %d, hung %d", refused, reset, hung)
		assert.Zero(t, hung, "dials left in a closed listener's queue")
	})
}
