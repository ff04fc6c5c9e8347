package main

import (
	"crypto/sha1"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// firewalledShare is an ultrapeer on loopback (relaying when relay is set)
// and a leaf with no listening port behind it, sharing files; it returns
// both once the ultrapeer is the leaf's push proxy.
func firewalledShare(t *testing.T, relay bool, files map[string]string) (up, leaf *servent.Servent) {
	t.Helper()
	up, err := servent.New(servent.Config{Listen: "127.0.0.1:0", AllowPrivate: true, Relay: relay,
		MaxPeersPerIP: 16, MaxLeavesPerIP: 16})
	require.NoError(t, err)
	require.NoError(t, up.Start(t.Context()))
	t.Cleanup(func() { up.Close() })
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	leaf, err = servent.New(servent.Config{NoListen: true, Mode: servent.ModeLeaf, ShareDir: dir, HashBeforeStart: true, AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, leaf.Start(t.Context()))
	t.Cleanup(func() { leaf.Close() })
	require.NoError(t, leaf.Connect(up.Addr()))
	deadline := time.Now().Add(10 * time.Second)
	for leaf.Stats().PushProxy.Acked == 0 {
		require.True(t, time.Now().Before(deadline), "the ultrapeer never became the leaf's push proxy")
		time.Sleep(10 * time.Millisecond)
	}
	return up, leaf
}

// govent search --no-listen: both sides have no port; the file comes
// through the relaying ultrapeer.
func TestSearchNoListenDownloadsThroughRelay(t *testing.T) {
	body := strings.Repeat("relayed penguin ", 5000)
	up, _ := firewalledShare(t, true, map[string]string{"penguin.txt": body})
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", up.Addr().String(), "--no-listen",
		"--download", "1", "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	got, err := os.ReadFile(filepath.Join(dir, "penguin.txt"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	st := up.Stats().Relay
	// The hit carries a bitprint, so the download fetches the file's
	// Tiger tree first: one relayed transfer for the tree, one for the file.
	assert.EqualValues(t, 2, st.Granted, "the relay was used for the tree and the file")
	assert.GreaterOrEqual(t, st.Bytes, uint64(len(body)))
}

// govent search --no-listen through an ultrapeer that does not relay:
// the firewalled leaf that shares the file rightly stays silent (the
// query says we are firewalled), and search says why, and how to fix it,
// instead of a bare "no results".
func TestSearchNoListenWithoutRelaySaysWhy(t *testing.T) {
	up, _ := firewalledShare(t, false, map[string]string{"penguin.txt": "unrelayed penguin"})
	code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", up.Addr().String(), "--no-listen",
		"--download", "1", "--dir", t.TempDir(), "--timeout", "1s")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "no results")
	assert.Equal(t, "search: "+noRelayNote+"\n"+
		"govent: --download 1: no result to fetch (firewalled hosts cannot answer us without a relay)\n", errOut)
}

// govent get names a firewalled source by its servent GUID and its push
// proxy; the proxy has it connect back to get's port.
func TestGetFirewalledSourceThroughPushProxy(t *testing.T) {
	body := strings.Repeat("proxied penguin ", 3000)
	up, leaf := firewalledShare(t, false, map[string]string{"penguin.txt": body})
	urn := wire.SHA1(sha1.Sum([]byte(body))).String()
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", urn, "--source", leaf.GUID().String(), "--push-proxy", up.Addr().String(),
		"--listen", "127.0.0.1:0", "--dir", dir, "--name", "got.txt", "--size", strconv.Itoa(len(body)))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	got, err := os.ReadFile(filepath.Join(dir, "got.txt"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	assert.EqualValues(t, 1, up.Stats().PushProxy.Sent, "one connection, one Push")

	// Firewalled too: through the proxy's relay, if it had one; it has not.
	code, _, errOut = runCLI(t, "", "get", urn, "--source", leaf.GUID().String(), "--push-proxy", up.Addr().String(),
		"--peer", up.Addr().String(), "--no-listen", "--dir", t.TempDir())
	assert.Equal(t, 1, code)
	// A permanent condition: said once, not retried.
	assert.Regexp(t, `^govent: download "[A-Z2-7]+": no usable source left: push:`+leaf.GUID().String()+
		`: (HEAD: )?connecting: we and the source are both firewalled, and no ultrapeer of ours relays \(X-Govent-Relay\)\n$`, errOut)

	code, _, errOut = runCLI(t, "", "get", urn, "--source", leaf.GUID().String())
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "needs --push-proxy or --peer")
	code, _, errOut = runCLI(t, "", "get", urn, "--source", "banana")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "servent GUID")
}

// govent get --no-listen through a relaying --peer, from a firewalled
// source named by GUID.
func TestGetNoListenThroughRelay(t *testing.T) {
	body := strings.Repeat("doubly firewalled penguin ", 3000)
	up, leaf := firewalledShare(t, true, map[string]string{"penguin.txt": body})
	urn := wire.SHA1(sha1.Sum([]byte(body))).String()
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", urn, "--source", leaf.GUID().String(), "--push-proxy", up.Addr().String(),
		"--peer", up.Addr().String(), "--no-listen", "--dir", dir, "--name", "got.txt", "--size", strconv.Itoa(len(body)))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	got, err := os.ReadFile(filepath.Join(dir, "got.txt"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	assert.EqualValues(t, 1, up.Stats().Relay.Granted)
}

// run --relay and its caps reach the servent's Config.
func TestRunRelayFlags(t *testing.T) {
	cfg, _, code, errOut := runCaptured(t, nil, "run")
	require.Equal(t, 0, code, errOut)
	assert.False(t, cfg.Relay, "off by default")
	cfg, _, code, errOut = runCaptured(t, map[string]string{"GOVENT_RELAY_MAX": "3"}, "run", "--relay", "--relay-kbps", "64")
	require.Equal(t, 0, code, errOut)
	assert.True(t, cfg.Relay)
	assert.Equal(t, 64, cfg.RelayKBps)
	assert.Equal(t, 3, cfg.RelayMaxTransfers)
	_, _, code, _ = runCaptured(t, nil, "run", "--relay-max", "0")
	assert.Equal(t, 2, code)
}

// govent get names a firewalled source by its servent GUID and only a
// --peer, as the README shows: no route to it was known, since get never
// searched, so it used to fail "no push proxy", "no route for a Push".
// It learns one by asking its peers for the urn:sha1 first.
func TestGetFirewalledSourceThroughPeer(t *testing.T) {
	body := strings.Repeat("routed penguin ", 3000)
	up, leaf := firewalledShare(t, false, map[string]string{"penguin.txt": body})
	urn := wire.SHA1(sha1.Sum([]byte(body))).String()
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "get", urn, "--source", leaf.GUID().String(), "--peer", up.Addr().String(),
		"--listen", "127.0.0.1:0", "--dir", dir, "--name", "got.txt", "--size", strconv.Itoa(len(body)))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	got, err := os.ReadFile(filepath.Join(dir, "got.txt"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}

// search --magnet of a firewalled result writes gtk-gnutella's push
// source, xs=push://GUID:proxy/uri-res/N2R?urn:sha1:..., and get of that
// link downloads through a Push. It used to write no source at all, and
// get said "the magnet link names no source".
func TestSearchMagnetPushThenGet(t *testing.T) {
	body := strings.Repeat("pushed magnet penguin ", 3000)
	up, leaf := firewalledShare(t, false, map[string]string{"penguin.txt": body})
	code, out, errOut := runCLI(t, "", "search", "penguin", "--peer", up.Addr().String(), "--listen", "127.0.0.1:0",
		"--max-results", "1", "--magnet")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "[push]")
	link := regexp.MustCompile(`(?m)^\s+(magnet:\?\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, link, out)
	urn := wire.SHA1(sha1.Sum([]byte(body))).String()
	assert.Contains(t, link[1], "&xs=push://"+leaf.GUID().String()+":"+up.Addr().String()+"/uri-res/N2R?"+urn, "one push proxy: the ultrapeer")

	dir := t.TempDir()
	code, out, errOut = runCLI(t, "", "get", link[1], "--listen", "127.0.0.1:0", "--dir", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	got, err := os.ReadFile(filepath.Join(dir, "penguin.txt"))
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}
