package httpxfer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
)

// arrivalLab is a file of five tree segments (256 KiB, the last short)
// and pipe fakes that send no body before the tree is served and the
// downloader has had (virtual) time to take it, so that every body
// arrives with the tree known: the honest source answers its first
// request with a head that announces the tree and hangs up, and sends
// every later reply once the tree is out.
type arrivalLab struct {
	data       []byte
	tree       *thex.Tree
	treeServed chan struct{}
	announced  atomic.Bool // the honest source's first head went out
	lied       atomic.Bool // the liar's one body went out
}

func newArrivalLab() *arrivalLab {
	data := randomData(1<<20 + 5000)
	return &arrivalLab{data: data, tree: treeOf(data), treeServed: make(chan struct{})}
}

// afterTree waits until the tree went out, and a second more.
func (l *arrivalLab) afterTree() {
	<-l.treeServed
	time.Sleep(time.Second)
}

func (l *arrivalLab) head(conn net.Conn, a, b int) {
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\nX-Thex-URI: %s\r\n\r\n",
		a, b, len(l.data), b-a+1, thex.FormatThexURI(sha1.Sum(l.data), l.tree.Root()))
}

func (l *arrivalLab) honest(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	_ = conn.SetDeadline(time.Time{})
	if strings.HasPrefix(req.URL.Path, "/uri-res/N2X") {
		body := l.tree.AppendDIME(nil)
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/dime\r\nContent-Length: %d\r\n\r\n", len(body))
		_, _ = conn.Write(body)
		close(l.treeServed)
		return false
	}
	a, b := askedRange(req, len(fs.data))
	if !l.announced.Swap(true) {
		l.head(conn, a, b)
		return false
	}
	l.afterTree()
	l.head(conn, a, b)
	_, _ = conn.Write(fs.data[a : b+1])
	return true
}

// liar sends one body, once the tree is out, with its first byte flipped,
// and holds every later request until it is given up.
func (l *arrivalLab) liar(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
	_ = conn.SetDeadline(time.Time{})
	if l.lied.Swap(true) {
		_, _ = io.Copy(io.Discard, conn)
		return false
	}
	l.afterTree()
	a, b := askedRange(req, len(fs.data))
	body := append([]byte(nil), fs.data[a:b+1]...)
	body[0] ^= 0xff
	l.head(conn, a, b)
	_, _ = conn.Write(body)
	return true
}

func (l *arrivalLab) download(t *testing.T, dir string, fakes ...*fakeSource) (Result, error) {
	var srcs []Source
	for _, fs := range fakes {
		srcs = append(srcs, fs.source())
	}
	d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(fakes...), ChunkSize: 256 << 10, MaxFailures: 2, Wait: (&waitRecorder{}).wait})
	return d.Download(context.Background(), Request{
		Name: "f.bin", Size: int64(len(l.data)), SHA1: sha1.Sum(l.data), TTH: l.tree.Root(), HasTTH: true, Sources: srcs,
	})
}

// With the tree known before the bodies come, every segment is checked
// as its bytes arrive and none is read back from the .part; a liar's bad
// segments are caught that way too, the liar blamed at once, and the
// segments fetched again are checked on arrival as well.
func TestDownloadThexChecksOnArrival(t *testing.T) {
	for _, withLiar := range []bool{false, true} {
		t.Run(fmt.Sprint("liar=", withLiar), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newArrivalLab()
				require.Equal(t, int64(256<<10), l.tree.ChunkSize())
				fakes := []*fakeSource{newPipeFake(t, "127.0.0.1:7001", l.data, l.honest)}
				if withLiar {
					fakes = append(fakes, newPipeFake(t, "127.0.0.1:7002", l.data, l.liar))
				}
				dir := t.TempDir()
				res, err := l.download(t, dir, fakes...)
				for _, fs := range fakes {
					fs.stop()
				}
				require.NoError(t, err)
				assertFinished(t, dir, res, l.data, "f.bin")
				assert.True(t, res.TreeVerified)
				assert.Zero(t, res.readBack, "segments read back from the .part")
				if withLiar {
					assert.Equal(t, 1, res.BadChunks)
					require.Len(t, res.Dropped, 1, "only the liar is dropped: %v", res.Dropped)
					assert.Equal(t, fakes[1].source(), res.Dropped[0].Source)
					assert.ErrorIs(t, res.Dropped[0].Err, ErrHashMismatch)
				} else {
					assert.Zero(t, res.BadChunks)
					assert.Empty(t, res.Dropped)
				}
			})
		})
	}
}

// A download resumed in the middle of a segment reads back that segment
// alone: the bytes of it the .part already held came before any body of
// this run. A liar's bytes in that very segment, resumed, are still caught.
func TestDownloadThexResumeReadsBackThePartialSegment(t *testing.T) {
	for _, lie := range []bool{false, true} {
		t.Run(fmt.Sprint("lie=", lie), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newArrivalLab()
				// The first run gets 200000 bytes of chunk 0 (mid segment 0),
				// the first of them flipped by the liar, and loses its source.
				cut := func(fs *fakeSource, conn net.Conn, req *http.Request, _ int) bool {
					_ = conn.SetDeadline(time.Time{})
					a, b := askedRange(req, len(fs.data))
					if a != 0 {
						return false
					}
					body := append([]byte(nil), fs.data[:200000]...)
					if lie {
						body[0] ^= 0xff
					}
					_, _ = fmt.Fprintf(conn, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", a, b, len(fs.data), b-a+1)
					_, _ = conn.Write(body)
					return false
				}
				first := newPipeFake(t, "127.0.0.1:7003", l.data, cut)
				dir := t.TempDir()
				d := NewDownloader(DownloaderConfig{Dir: dir, Dialer: newPipeDialer(first), ChunkSize: 256 << 10, MaxFailures: 1, Wait: (&waitRecorder{}).wait})
				_, err := d.Download(context.Background(), Request{Name: "f.bin", Size: int64(len(l.data)), SHA1: sha1.Sum(l.data), Sources: []Source{first.source()}})
				first.stop()
				require.ErrorIs(t, err, ErrNoSources)

				fs := newPipeFake(t, "127.0.0.1:7001", l.data, l.honest)
				res, err := l.download(t, dir, fs)
				fs.stop()
				require.NoError(t, err)
				assertFinished(t, dir, res, l.data, "f.bin")
				assert.Equal(t, int64(200000), res.Resumed)
				assert.True(t, res.TreeVerified)
				if lie {
					// Read back and failed, fetched again whole: checked on
					// arrival the second time.
					assert.Equal(t, 1, res.BadChunks)
				} else {
					assert.Zero(t, res.BadChunks)
				}
				assert.Equal(t, 1, res.readBack, "only the segment the resume began in is read back")
			})
		})
	}
}
