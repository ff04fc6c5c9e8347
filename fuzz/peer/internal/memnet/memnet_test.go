package memnet

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectionLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		_, err := n.Dial(context.Background(), netip.Addr{}, "127.0.0.1:1")
		require.ErrorIs(t, err, ErrRefused, "nothing listens")

		l, err := n.Listen("127.0.0.1:1")
		require.NoError(t, err)
		src := netip.MustParseAddr("127.1.0.7")
		c, err := n.Dial(context.Background(), src, "127.0.0.1:1")
		require.NoError(t, err)
		s, err := l.Accept()
		require.NoError(t, err)
		assert.Equal(t, src, s.RemoteAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Addr())

		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		buf := make([]byte, 16)
		k, err := s.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:k]))

		// A read deadline passes in virtual time.
		start := time.Now()
		require.NoError(t, s.SetReadDeadline(time.Now().Add(3*time.Second)))
		_, err = s.Read(buf)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))

		// A writer blocks when the peer reads nothing, until its deadline.
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
		_, err = c.Write(make([]byte, bufferSize+1))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

		// Close: the peer reads what is left, then EOF; its writes fail.
		require.NoError(t, s.SetReadDeadline(time.Time{}))
		require.NoError(t, c.Close())
		_, err = io.ReadAll(s)
		require.NoError(t, err)
		_, err = s.Write([]byte("x"))
		assert.Error(t, err)

		// A closed listener refuses.
		require.NoError(t, l.Close())
		_, err = n.Dial(context.Background(), netip.Addr{}, "127.0.0.1:1")
		assert.True(t, errors.Is(err, ErrRefused))
		s.Close()
	})
}
