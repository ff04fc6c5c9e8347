package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

func TestConformList(t *testing.T) {
	code, out, _ := runCLI(t, "", "conform", "--list")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "handshake/1 ")
	assert.Contains(t, out, "vendor/5 ")
	assert.Contains(t, out, "[ultrapeer]")
}

func TestConformUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conform"},
		{"conform", "--role", "hub", "127.0.0.1:1"},
		{"conform", "--only", "route/99", "127.0.0.1:1"},
		{"conform", "--no-such-flag", "127.0.0.1:1"},
		{"conform", "127.0.0.1:1", "127.0.0.1:2"},
		{"conform", "--source", "my-laptop", "127.0.0.1:1"},
		{"conform", "--source", "127.0.0.1,10.0.0.300", "127.0.0.1:1"},
		{"conform", "--pace", "-30s", "127.0.0.1:1"},
	} {
		code, _, errOut := runCLI(t, "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, errOut)
	}
}

func TestConformUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut := runCLI(t, "", "conform", "--timeout", "1s", addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cannot reach")
}

// TestConformOurServent runs part of the suite from the command line
// against our servent, with JSON on standard output and a JUnit file.
func TestConformOurServent(t *testing.T) {
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "penny lane.mp3"), []byte(strings.Repeat("penny lane ", 500)), 0o644))
	// The servent's default per-address limits: each of the suite's
	// connections comes from a loopback address of its own.
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: share, HashBeforeStart: true})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()

	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, errOut := runCLI(t, "", "conform", "--query", "penny lane", "--timeout", "3s",
		"--only", "handshake/1,ping,hit,http/2", "--skip", "ping/9", "--json", "-", "--junit", junit, s.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, errOut, "PASS  handshake/1 ")
	assert.Contains(t, errOut, "0 failed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+8+11+1)
	for _, line := range lines {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		assert.Contains(t, []any{"PASS", "SKIP"}, r["status"], line)
	}
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	assert.Equal(t, len(lines), doc.Tests)
	require.Len(t, doc.Suites, 4)
	assert.Equal(t, "http", doc.Suites[3].Name)
}

// TestConformCatchesBrokenServent: a servent that answers every Ping with a
// Pong under a new GUID fails ping/3, a MUST, so conform exits 1 and says
// why.
func TestConformCatchesBrokenServent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go brokenServent(nc)
		}
	}()
	code, out, errOut := runCLI(t, "", "conform", "--timeout", "2s", "--only", "ping/1,ping/3", ln.Addr().String())
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, out, "PASS  ping/1 ")
	assert.Contains(t, out, "FAIL  ping/3 ")
	assert.Contains(t, out, "expected: the Pong's GUID")
	assert.Contains(t, errOut, "1 MUST cases failed")
}

func brokenServent(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	_, _ = nc.Write([]byte("GNUTELLA/0.6 200 OK\r\nUser-Agent: Broken/1\r\nX-Ultrapeer: True\r\n\r\n"))
	if _, err := wire.ReadHandshake(br, wire.HandshakeLimits{}); err != nil {
		return
	}
	r := wire.NewReader(br, 0)
	for {
		m, err := r.ReadMessage()
		if m == nil {
			return
		}
		if err != nil || m.Header.Type != wire.TypePing {
			if m.Header.Type == wire.TypeBye {
				return
			}
			continue
		}
		pong := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePong, TTL: 1},
			Pong: wire.Pong{Port: 1, Addr: netip.MustParseAddr("127.0.0.1")}}
		b, _ := pong.Append(nil)
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// TestConformPaced: with --source and --pace the run says where it
// connects from and how long pacing makes it, and spreads its connections
// over the addresses given.
func TestConformPaced(t *testing.T) {
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", ShareDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	defer s.Close()
	code, out, errOut := runCLI(t, "", "conform", "--timeout", "3s", "--only", "handshake/1",
		"--source", "127.0.0.1,127.0.0.2", "--pace", "10s", s.Addr().String())
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "connections from 127.0.0.1, 127.0.0.2\n")
	// The role check, the search for --query and handshake/1: three, two
	// from each address at most, one pace apart.
	assert.Contains(t, out, "at most 3 connections; pacing alone makes the run take up to 10s\n")
	assert.Contains(t, out, "PASS  handshake/1 ")
}
