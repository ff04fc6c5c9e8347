package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
)

// sniffer forwards loopback connections to a servent and records the first
// byte of each: 0x16 when the client opened with TLS, 'G' for a plain GET.
type sniffer struct {
	ln    net.Listener
	mu    sync.Mutex
	first []byte
}

func startSniffer(t *testing.T, to netip.AddrPort) *sniffer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sn := &sniffer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { sn.forward(c, to) })
		}
	})
	return sn
}

func (sn *sniffer) forward(c net.Conn, to netip.AddrPort) {
	defer c.Close()
	br := bufio.NewReader(c)
	b, err := br.Peek(1)
	if err != nil {
		return
	}
	sn.mu.Lock()
	sn.first = append(sn.first, b[0])
	sn.mu.Unlock()
	up, err := net.Dial("tcp", to.String())
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); close(done) }()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
}

func (sn *sniffer) addr() netip.AddrPort { return netip.MustParseAddrPort(sn.ln.Addr().String()) }

func (sn *sniffer) firstBytes() []byte {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return append([]byte(nil), sn.first...)
}

// tlsSharer is a TLS-capable servent sharing one file, whose QueryHits
// advertise a sniffer in front of it.
func tlsSharer(t *testing.T, body []byte) (*servent.Servent, *sniffer) {
	t.Helper()
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "sealed letter.bin"), body, 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // its port, for the servent to take
	sn := startSniffer(t, port)
	s, err := servent.New(servent.Config{Listen: port.String(), AdvertiseAddr: sn.addr(), ShareDir: share, HashBeforeStart: true, AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { s.Close() })
	return s, sn
}

// search --download from a servent whose hit carries GGEP TLS fetches over
// TLS; with --no-tls, plain.
func TestSearchDownloadTLS(t *testing.T) {
	body := bytes.Repeat([]byte("sealed with a kiss "), 3000)
	s, sn := tlsSharer(t, body)
	for _, noTLS := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"search", "--peer", s.Addr().String(), "--listen", "127.0.0.1:0", "--timeout", "5s", "--download", "1", "--dir", dir, "sealed"}
		if noTLS {
			args = append(args, "--no-tls")
		}
		before := len(sn.firstBytes())
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, out, "SHA-1 verified")
		got, err := os.ReadFile(filepath.Join(dir, "sealed letter.bin"))
		require.NoError(t, err)
		assert.Equal(t, body, got)
		want := byte(0x16)
		if noTLS {
			want = 'G'
		}
		first := sn.firstBytes()[before:]
		require.NotEmpty(t, first)
		assert.Equal(t, bytes.Repeat([]byte{want}, len(first)), first, "--no-tls %v", noTLS)
	}
}

// get --source tls:IP:PORT opens with TLS, --no-tls dials it plain, and a
// plain --source is dialled plain.
func TestGetTLSSource(t *testing.T) {
	body := bytes.Repeat([]byte("sealed with a kiss "), 3000)
	s, sn := tlsSharer(t, body)
	urn := s.Library().All()[0].SHA1.String()
	for _, tc := range []struct {
		name   string
		source string
		extra  []string
		tls    bool
	}{
		{"tls source", "tls:" + sn.addr().String(), nil, true},
		{"tls source, --no-tls", "tls:" + sn.addr().String(), []string{"--no-tls"}, false},
		{"plain source", sn.addr().String(), nil, false},
	} {
		dir := t.TempDir()
		before := len(sn.firstBytes())
		code, out, errOut := runCLI(t, "", append([]string{"get", "--source", tc.source, "--name", "x.bin", "--dir", dir, urn}, tc.extra...)...)
		require.Equal(t, 0, code, "%s\nstdout:\n%s\nstderr:\n%s", tc.name, out, errOut)
		got, err := os.ReadFile(filepath.Join(dir, "x.bin"))
		require.NoError(t, err)
		assert.Equal(t, body, got, tc.name)
		first := sn.firstBytes()[before:]
		require.NotEmpty(t, first, tc.name)
		// Plain, the first request is a HEAD (get asks the size).
		want := []byte("H")
		if tc.tls {
			want = []byte{0x16}
		}
		assert.Equal(t, want, first[:1], tc.name)
	}
	code, _, errOut := runCLI(t, "", "get", "--source", "tls:nowhere", urn)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "tls:IP:PORT")
}
