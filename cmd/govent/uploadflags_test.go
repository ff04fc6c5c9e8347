package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/control"
)

// govent run --upload-slots 1 --upload-queue 1: one host downloads, the
// next waits in the queue (PARQ place 1 of 1), and the one after is told
// the queue is full. Each host has a loopback address of its own: the same
// host asking again would find its place. (With the defaults, 8 slots and 500 places, all
// three would be served.)
func TestRunUploadSlotsAndQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "slots.txt"), []byte(strings.Repeat("one at a time ", 1000)), 0o644))
	data := t.TempDir()
	startDaemon(t, buildGovent(t), data, "--share", share, "--upload-slots", "1", "--upload-queue", "1")
	var st control.Status
	cliJSON(t, &st, "status", "--data", data, "--json")
	var sh control.Shares
	require.Eventually(t, func() bool {
		cliJSON(t, &sh, "shares", "--data", data, "--json")
		return len(sh.List) == 1 && sh.List[0].URN != ""
	}, 10*time.Second, 50*time.Millisecond, "the file is hashed")
	ask := func(from string) (*http.Response, net.Conn) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		conn, err := d.Dial("tcp", st.Addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = conn.Write([]byte("GET /uri-res/N2R?" + sh.List[0].URN + " HTTP/1.1\r\nRange: bytes=0-0\r\nX-Queue: 1.1\r\n\r\n"))
		require.NoError(t, err)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		return resp, conn
	}
	first, _ := ask("127.0.0.1") // kept alive: it holds the one slot
	assert.Equal(t, http.StatusPartialContent, first.StatusCode)
	second, _ := ask("127.0.0.2")
	assert.Equal(t, http.StatusServiceUnavailable, second.StatusCode)
	assert.Contains(t, second.Header.Get("X-Queued"), "position=1")
	assert.Contains(t, second.Header.Get("X-Queued"), "length=1")
	third, _ := ask("127.0.0.3")
	assert.Equal(t, http.StatusServiceUnavailable, third.StatusCode)
	assert.Contains(t, third.Status, "Queue full")
}
