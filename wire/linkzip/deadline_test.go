package linkzip_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/linkzip"
)

// deadlineStreams are compressed link streams to cut: gtk-gnutella's real
// one (a 16 KiB window, four sync-flushed segments) and ours, with messages
// of every size class and a segment as large as the read buffer.
func deadlineStreams(t *testing.T) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var ours bytes.Buffer
	zw, err := linkzip.NewWriter(&ours, linkzip.WriterConfig{})
	require.NoError(t, err)
	for _, m := range [][]byte{
		[]byte("GNUTELLA"),
		bytes.Repeat([]byte("penny lane "), 30),
		gnutellaLike(20 << 10),
		randomBytes(rng, linkzip.ReadBufferSize-64), // one segment filling the buffer
		{0x42},
	} {
		_, err := zw.Write(m)
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
	}
	return map[string][]byte{
		"gtk-gnutella": bytes.Join(compressedSegments(t, 6350, 1), nil),
		"govent":       ours.Bytes(),
	}
}

// readUntilTimeout reads from zr until an error, which it returns with
// what came before it.
func readUntilTimeout(zr io.Reader) ([]byte, error) {
	var got []byte
	buf := make([]byte, 1000)
	for {
		n, err := zr.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// A read deadline that fires must not spoil the link, wherever in the
// stream it strikes: between sync-flushed segments (an idle link, where the
// servent's keepalive used to set one), inside the zlib header, or in the
// middle of a deflate block whose rest is still on its way. For every cut
// of both streams, the bytes before the cut arrive, the deadline fires, the
// rest arrives, and the whole stream must inflate to exactly what
// compress/zlib makes of it.
func TestDeadlineIsRecoverableAnywhere(t *testing.T) {
	for name, stream := range deadlineStreams(t) {
		t.Run(name, func(t *testing.T) {
			want := stdlibInflate(t, stream)
			require.NotEmpty(t, want)
			step := max(1, len(stream)/150)
			for cut := 1; cut < len(stream); cut += step {
				synctest.Test(t, func(t *testing.T) {
					local, remote := net.Pipe()
					defer local.Close()
					resume := make(chan struct{})
					go func() {
						defer remote.Close()
						if _, err := remote.Write(stream[:cut]); err != nil {
							return
						}
						<-resume
						_, _ = remote.Write(stream[cut:])
					}()
					zr := linkzip.NewReader(local, linkzip.ReaderConfig{})
					require.NoError(t, local.SetReadDeadline(time.Now().Add(30*time.Second)))
					before, err := readUntilTimeout(zr)
					require.ErrorIs(t, err, os.ErrDeadlineExceeded, "cut %d: the deadline comes back as such", cut)
					var ne net.Error
					require.True(t, errors.As(err, &ne) && ne.Timeout(), "cut %d: and is a net.Error timeout", cut)

					require.NoError(t, local.SetReadDeadline(time.Time{}))
					close(resume)
					after, err := readUntilTimeout(zr)
					require.ErrorIs(t, err, io.EOF, "cut %d: the stream reads on to its end", cut)
					assert.Equal(t, want, append(before, after...), "cut %d", cut)
				})
			}
		})
	}
}

// The common case, step by step: a segment is read, the link goes idle
// and the deadline fires, again and again, then the next segment arrives
// and reads at once.
func TestIdleDeadlineThenData(t *testing.T) {
	segs := compressedSegments(t, 6350, 1)
	synctest.Test(t, func(t *testing.T) {
		local, remote := net.Pipe()
		defer local.Close()
		defer remote.Close()
		zr := linkzip.NewReader(local, linkzip.ReaderConfig{})
		for i, seg := range segs {
			go func() { _, _ = remote.Write(seg) }()
			got := make([]byte, len(stdlibInflate(t, bytes.Join(segs[:i+1], nil)))-int(zr.Stats().Plain))
			_, err := io.ReadFull(zr, got)
			require.NoError(t, err, "segment %d", i)
			for range 3 {
				require.NoError(t, local.SetReadDeadline(time.Now().Add(30*time.Second)))
				n, err := zr.Read(make([]byte, 100))
				assert.Zero(t, n)
				require.ErrorIs(t, err, os.ErrDeadlineExceeded, "segment %d: idle", i)
			}
			require.NoError(t, local.SetReadDeadline(time.Time{}))
		}
	})
}

// A deadline inside a segment too large to wait for whole cannot be
// resumed (compress/flate keeps the error): Read says so with
// ErrInterrupted, for good, and never as a timeout a caller would retry
// into garbage.
func TestDeadlineInsideHugeSegmentIsFatal(t *testing.T) {
	var stream bytes.Buffer
	zw, err := linkzip.NewWriter(&stream, linkzip.WriterConfig{})
	require.NoError(t, err)
	_, err = zw.Write(randomBytes(rand.New(rand.NewPCG(5, 6)), 4*linkzip.ReadBufferSize))
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	cut := 3 * linkzip.ReadBufferSize
	synctest.Test(t, func(t *testing.T) {
		local, remote := net.Pipe()
		defer local.Close()
		defer remote.Close()
		go func() { _, _ = remote.Write(stream.Bytes()[:cut]) }()
		zr := linkzip.NewReader(local, linkzip.ReaderConfig{})
		require.NoError(t, local.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err := readUntilTimeout(zr)
		require.ErrorIs(t, err, linkzip.ErrInterrupted)
		assert.False(t, linkzip.IsTimeout(err), "not to be retried: %v", err)
		require.NoError(t, local.SetReadDeadline(time.Time{}))
		_, err = zr.Read(make([]byte, 10))
		assert.ErrorIs(t, err, linkzip.ErrInterrupted, "sticky")
	})
}
