package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent"
)

// byePeer is an in-process servent on loopback that govent run dials; it
// records the Byes it receives through its own log.
type byePeer struct {
	s    *servent.Servent
	logs *observer.ObservedLogs
}

func startByePeer(t *testing.T) *byePeer {
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", AllowPrivate: true, Logger: zap.New(core)})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { s.Close() })
	return &byePeer{s: s, logs: logs}
}

// byes lists the Byes the peer logged receiving, as "code reason".
func (p *byePeer) byes() []string {
	var out []string
	for _, e := range p.logs.FilterMessage("peer said Bye").All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprint(m["code"], " ", m["reason"]))
	}
	return out
}

// SIGINT and SIGTERM make a real govent run process say Bye 200 to each of
// its two peers, and each peer has received and logged it by the time the
// process has exited. Five runs per signal: the race this guards against
// (the signal context cancelling the servent before Close sent its Byes)
// lost the Bye in 2 runs of 5.
func TestRunSaysByeOnSignal(t *testing.T) {
	bin := buildGovent(t)
	peers := []*byePeer{startByePeer(t), startByePeer(t)}
	const runs = 5
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			for run := range runs {
				before := [2]int{len(peers[0].byes()), len(peers[1].byes())}
				var stderr bytes.Buffer
				cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--log-format", "json",
					"--peer", peers[0].s.Addr().String(), "--peer", peers[1].s.Addr().String())
				cmd.Env = testEnviron()
				cmd.Stderr = &stderr
				require.NoError(t, cmd.Start())
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				connected := func() bool { return len(peers[0].s.Peers()) == 1 && len(peers[1].s.Peers()) == 1 }
				for deadline := time.Now().Add(10 * time.Second); !connected(); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						_ = cmd.Process.Kill()
						<-exited
						t.Fatalf("run %d: govent did not connect to both peers\n%s", run, stderr.String())
					}
				}

				require.NoError(t, cmd.Process.Signal(sig))
				select {
				case err := <-exited:
					require.NoError(t, err, "run %d: exit status\n%s", run, stderr.String())
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("run %d: govent did not exit after %s", run, sig)
				}
				// No waiting here: the peers must have it already.
				for i, p := range peers {
					got := p.byes()[before[i]:]
					assert.Equal(t, []string{"200 Shutting Down"}, got, "run %d: peer %d\n%s", run, i, stderr.String())
				}
				assert.Equal(t, 2, strings.Count(stderr.String(), `"bye_sent":200`), "run %d: govent logs both Byes\n%s", run, stderr.String())
				assert.NotContains(t, stderr.String(), "context canceled", "run %d", run)
				for _, p := range peers {
					for deadline := time.Now().Add(5 * time.Second); len(p.s.Peers()) > 0; time.Sleep(5 * time.Millisecond) {
						require.False(t, time.Now().After(deadline), "run %d: the peer kept the link", run)
					}
				}
			}
		})
	}
}

// A govent run whose log reader has gone (govent run 2>&1 | tee run.log,
// and Ctrl-C, which ends tee first) still shuts down as on any SIGINT: it
// exits 0, says Bye 200, and saves its host cache. Before, the first log
// line after the reader went, "shutting down", killed it by SIGPIPE
// (status 141 in a shell) with its data directory's state unsaved.
func TestRunShutsDownWithItsLogClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	peer := startByePeer(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off",
		"--data", data, "--peer", peer.s.Addr().String())
	cmd.Env = testEnviron()
	logs, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(logs)
	for lines.Scan() && !strings.Contains(lines.Text(), "connected") {
	}
	require.NoError(t, lines.Err())
	require.NoError(t, logs.Close()) // the reader goes: every later log line meets EPIPE

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("govent run did not exit after SIGINT")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ws := exit.Sys().(syscall.WaitStatus)
		require.False(t, ws.Signaled(), "killed by %v", ws.Signal())
	}
	require.NoError(t, err)
	assert.Equal(t, []string{"200 Shutting Down"}, peer.byes())
	assert.FileExists(t, filepath.Join(data, "hosts.json"), "the host cache is saved at exit")
}
