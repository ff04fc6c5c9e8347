package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
)

// tripwire stands in for the shipped bootstrap list in every test: in
// process (shippedCaches) and in the govent processes tests start
// (testEnviron sets GOVENT_FALLBACK_CACHE). runWithTripwire fails the run
// if anything asked it for hosts, so no test, demo or README line can reach
// the public caches unnoticed.
var tripwire struct {
	url  string
	hits atomic.Int32
}

// runWithTripwire runs the tests with the tripwire in place of the
// shipped list and fails the run if anything asked it (TestMain calls it).
func runWithTripwire(m *testing.M) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tripwire:", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tripwire.hits.Add(1)
		http.Error(w, "tripwire: a test used the shipped bootstrap list", http.StatusGone)
	})}
	go srv.Serve(ln)
	tripwire.url = "http://" + ln.Addr().String() + "/shipped-list"
	shippedCaches = []string{tripwire.url}
	code := m.Run()
	srv.Close()
	if n := tripwire.hits.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests contacted the shipped bootstrap list %d times\n", n)
		code = 1
	}
	return code
}

// The bootstrap flags reach the servent; without them `run` passes the
// shipped list as the fallback, which the servent uses only when it
// knows nobody.
func TestRunBootstrapFlags(t *testing.T) {
	cfg, _, code, errOut := runCaptured(t, nil, "run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, shippedCaches, cfg.FallbackCaches)
	assert.False(t, cfg.NoBootstrap)

	cfg, _, code, errOut = runCaptured(t, nil, "run", "--gwc", "http://10.1.1.1/gwc.php", "--gwc", "https://10.1.1.2/",
		"--uhc", "10.1.1.3:6346", "--no-bootstrap", "--no-udp", "--fallback-cache", "uhc:10.1.1.4:1")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, []string{"http://10.1.1.1/gwc.php", "https://10.1.1.2/"}, cfg.GWebCaches)
	assert.Equal(t, []string{"10.1.1.3:6346"}, cfg.UDPHostCaches)
	assert.Equal(t, []string{"uhc:10.1.1.4:1"}, cfg.FallbackCaches)
	assert.True(t, cfg.NoBootstrap)
	assert.True(t, cfg.NoUDP)

	_, _, code, errOut = runCaptured(t, nil, "run", "--gwc", "ftp://10.1.1.1/")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--gwc ftp://10.1.1.1/")
	_, _, code, _ = runCaptured(t, nil, "run", "--uhc", "nowhere")
	assert.Equal(t, 2, code)
}

// fakeGWebCache serves a GWebCache v2 answer naming hosts on loopback, for
// as long as the test runs, and returns its URL.
func fakeGWebCache(t *testing.T, hosts ...netip.AddrPort) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range hosts {
			fmt.Fprintf(w, "H|%v|10\n", h)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/gwc.php"
}

// `govent run` as a user types it, knowing nobody: it asks the GWebCache
// it is given, connects to the host the cache names, and logs the cache
// once at info.
func TestRunBootstrapsFromGWebCache(t *testing.T) {
	peer, err := servent.New(servent.Config{Listen: "127.0.0.1:0", AllowPrivate: true, NoBootstrap: true})
	require.NoError(t, err)
	require.NoError(t, peer.Start(t.Context()))
	defer peer.Close()
	var asked atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		fmt.Fprintf(w, "H|%v|10\n", peer.Addr())
	})}
	go srv.Serve(ln)
	defer srv.Close()

	bin := buildGovent(t)
	var stderr syncBuffer
	// --control on a port of its own: the default, 6347, is taken on a
	// machine where a govent run of the developer's is up.
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--allow-private", "--log-format", "json",
		"--data", t.TempDir(), "--gwc", "http://"+ln.Addr().String()+"/gwc.php")
	cmd.Env = testEnviron()
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); len(peer.Peers()) == 0; time.Sleep(10 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "govent did not connect to the host the cache gave\n%s", stderr.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait())
	assert.Equal(t, int32(1), asked.Load())
	assert.Equal(t, 1, strings.Count(stderr.String(), `"msg":"asking a host cache for hosts"`), stderr.String())
	assert.Contains(t, stderr.String(), ln.Addr().String())
}

// A govent process started by a test reads the tripwire as its fallback
// list, and would ask it when it knows nobody: so TestMain's check means
// something.
func TestTripwireWouldCatchTheShippedList(t *testing.T) {
	env := testEnviron()
	assert.Contains(t, env, "GOVENT_FALLBACK_CACHE="+tripwire.url)
	cfg, _, code, errOut := runCaptured(t, map[string]string{"GOVENT_FALLBACK_CACHE": tripwire.url}, "run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, []string{tripwire.url}, cfg.FallbackCaches)
}
