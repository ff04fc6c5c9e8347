package httpxfer

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// From the testdata README: penny lane.mp3, 102400 bytes.
const (
	pennyURN  = "urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O"
	pennySHA1 = "ae350b9fea1ca49d4171e949ce9e6213cc010bae"
)

// gtkCaptures returns, from http.pcap, gtk-gnutella's full 200 reply to
// the HTTP/1.0 GET (C2, head and body) and the head of its 206 for
// bytes 0-99 (C1's first reply).
func gtkCaptures(t *testing.T) (full200 []byte, head206 string, data []byte) {
	t.Helper()
	streams := tcpStreams(t, "testdata/http.pcap")
	full200 = streams[[2]uint16{6350, 40736}]
	head, body := splitHead(t, full200)
	require.Len(t, body, 102400)
	want, _ := hex.DecodeString(pennySHA1)
	sum := sha1.Sum(body)
	require.Equal(t, want, sum[:])
	require.Equal(t, byte(0x87), body[102399])
	require.Contains(t, string(head), "HTTP/1.1 200 OK\r\n")

	h206, _ := splitHead(t, streams[[2]uint16{6350, 40730}])
	require.Contains(t, string(h206), "Content-Range: bytes 0-99/102400\r\n")
	require.Contains(t, string(h206), "X-Thex-URI: ")
	return full200, string(h206), body
}

var (
	contentRangeRE  = regexp.MustCompile(`Content-Range: bytes 0-99/`)
	contentLengthRE = regexp.MustCompile(`Content-Length: 100\r\n`)
)

func TestDownloadFromGtkGnutellaReplies(t *testing.T) {
	full200, head206, data := gtkCaptures(t)
	want, _ := hex.DecodeString(pennySHA1)
	d, err := wire.ParseURN(pennyURN)
	require.NoError(t, err)
	require.Equal(t, want, d[:])

	tests := []struct {
		name   string
		behave func(*fakeSource, net.Conn, *http.Request, int) bool
		chunk  int64
		ranges []string
	}{
		{
			// Its 200 (status line HTTP/1.1 for our 1.1 request, Connection:
			// close, X-Features, Content-Disposition, X-Thex-URI) replayed
			// byte for byte: a 200 to a range from 0 is taken as is.
			name: "captured 200 replayed verbatim",
			behave: func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
				_, _ = conn.Write(full200)
				return false
			},
			chunk:  1 << 20,
			ranges: []string{"bytes=0-102399"},
		},
		{
			// Its 206 head with our range in Content-Range and Content-Length,
			// kept alive as gtk-gnutella does.
			name: "captured 206 head per range",
			behave: func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
				a, b := askedRange(req, len(fs.data))
				h := contentRangeRE.ReplaceAllString(head206, fmt.Sprintf("Content-Range: bytes %d-%d/", a, b))
				h = contentLengthRE.ReplaceAllString(h, fmt.Sprintf("Content-Length: %d\r\n", b-a+1))
				_, _ = conn.Write(append([]byte(h), fs.data[a:b+1]...))
				return true
			},
			chunk:  testChunk,
			ranges: []string{"bytes=0-65535", "bytes=65536-102399"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, data, tc.behave)
			dir := t.TempDir()
			dl := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: tc.chunk, Wait: (&waitRecorder{}).wait})
			res, err := dl.Download(context.Background(), Request{
				Name: "penny lane.mp3", Size: 102400, SHA1: d, Sources: []Source{fs.source()},
			})
			require.NoError(t, err)
			assertFinished(t, dir, res, data, "penny lane.mp3")
			assert.Equal(t, tc.ranges, fs.requestRanges())
		})
	}
}

// givDialer stands in for the servent's push machinery: for a Push source
// it takes the next connection on its listener, reads the GIV and checks
// the servent GUID (index and name in the GIV are not trusted).
type givDialer struct {
	ln net.Listener
}

func (g givDialer) DialSource(ctx context.Context, s Source) (net.Conn, error) {
	if !s.Push {
		return NetDialer{}.DialSource(ctx, s)
	}
	conn, err := g.ln.Accept()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	giv, err := ReadGIV(br)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if giv.ServentGUID != s.ServentGUID || br.Buffered() != 0 {
		conn.Close()
		return nil, fmt.Errorf("GIV from %s, want %s", giv.ServentGUID, s.ServentGUID)
	}
	return conn, nil
}

// gtk-gnutella behind a firewall connects to us, sends its GIV and answers
// our GET on that connection (push-giv.pcap, replayed).
func TestPushDownloadFromGtkGnutella(t *testing.T) {
	stream := tcpStreams(t, "testdata/push-giv.pcap")[[2]uint16{54247, 7000}]
	_, n, err := ParseGIV(stream)
	require.NoError(t, err)
	givLine, reply := stream[:n], stream[n:]
	require.Contains(t, string(reply), "X-FW-Node-Info: 48c831020b29cc9f54ca85f81b70fef8; 6350:127.0.0.1\r\n")
	_, body := splitHead(t, reply)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	var gotReq *http.Request
	wg.Go(func() { // the firewalled gtk-gnutella, after our Push reached it
		conn, err := net.Dial("tcp", ln.Addr().String())
		if !assert.NoError(t, err) {
			return
		}
		defer conn.Close()
		_, _ = conn.Write(givLine)
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if !assert.NoError(t, err) {
			return
		}
		gotReq = req
		_, _ = conn.Write(reply)
	})

	d, _ := wire.ParseURN(pennyURN)
	dir := t.TempDir()
	dl := NewDownloader(DownloaderConfig{Dir: dir, Dialer: givDialer{ln}, Wait: (&waitRecorder{}).wait})
	res, err := dl.Download(context.Background(), Request{
		Name: "penny lane.mp3", Size: 102400, SHA1: d,
		Sources: []Source{{Push: true, ServentGUID: gtkGUID, Index: 2, Name: "penny lane.mp3",
			Addr: netip.MustParseAddrPort("127.0.0.1:6350")}},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, body, "penny lane.mp3")
	wg.Wait()
	require.NotNil(t, gotReq)
	assert.Equal(t, "/uri-res/N2R?"+pennyURN, gotReq.RequestURI)
	assert.Equal(t, "bytes=0-102399", gotReq.Header.Get("Range"))
}

// Both sides ours: the firewalled uploader connects out, writes its GIV and
// serves the GETs that arrive on that connection.
func TestUploadOverGIVConnection(t *testing.T) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 5, "song.ogg", 5*testChunk+3)
	lib.add(f)
	up := NewUploader(UploaderConfig{Library: lib})
	us := wire.NewGUID()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { // on receiving a Push for us
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			served <- err
			return
		}
		giv, _ := AppendGIV(nil, GIV{Index: f.Index, ServentGUID: us, Name: f.Name})
		if _, err := conn.Write(giv); err != nil {
			served <- err
			return
		}
		served <- up.ServeConn(ctx, conn, nil)
	}()

	dir := t.TempDir()
	dl := NewDownloader(DownloaderConfig{Dir: dir, ChunkSize: testChunk, Dialer: givDialer{ln}, Wait: (&waitRecorder{}).wait})
	res, err := dl.Download(context.Background(), Request{
		Name: "song.ogg", Size: f.Size, SHA1: f.SHA1,
		Sources: []Source{{Push: true, ServentGUID: us}},
	})
	require.NoError(t, err)
	assertFinished(t, dir, res, data, "song.ogg")
	assert.NoError(t, <-served, "the uploader saw the downloader close")
}
