package main

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"
)

// A Ctrl-C at any moment of a get, even in the first milliseconds while
// the program initialises and reads its flags, ends it as the README
// says: exit status 1 and the interrupt message. (A SIGINT in the first
// ~20 ms used to kill the process by the signal, status 130 in a shell,
// with nothing said: the handler was installed once the flags were
// checked.) The signal goes at once after package interrupt's init,
// which the runtime reports under GODEBUG=inittrace=1 (before it only
// the runtime and the standard library's core run, under a millisecond),
// and then a millisecond later each time, through the flag parsing.
func TestGetInterruptedAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	// A source that takes the connection and never answers: get waits on
	// it until interrupted.
	ln, _ := silentListener(t)
	const want = "govent: interrupted before any data arrived: nothing is kept, and the same command starts it again\n"
	for i := range 40 {
		delay := time.Duration(i%20) * time.Millisecond
		cmd := exec.Command(bin, "get", "urn:sha1:PLSTHIPQQ2Q6RM6QV4G5M3OJIQWZGEN4", "--source", ln.Addr().String(), "--dir", t.TempDir())
		cmd.Env = testEnviron()
		said := startPastInit(t, cmd)
		timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
		time.Sleep(delay)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		stderr := said()
		err := cmd.Wait()
		timer.Stop()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run %d (SIGINT %s after init): %s", i, delay, stderr)
		ws := exit.Sys().(syscall.WaitStatus)
		require.False(t, ws.Signaled(), "run %d (SIGINT %s after init): killed by %v, not exited; stderr %q", i, delay, ws.Signal(), stderr)
		assert.Equal(t, 1, exit.ExitCode(), "run %d (SIGINT %s after init)", i, delay)
		assert.Equal(t, want, stderr, "run %d (SIGINT %s after init)", i, delay)
	}
}

// Every command named interruptible exists: a renamed one would die by
// Ctrl-C again.
func TestInterruptibleCommandsExist(t *testing.T) {
	names := map[string]bool{}
	walkCommands(newApp(env{lookupEnv: func(string) (string, bool) { return "", false }}), nil, func(path []string, _ *cli.Command) {
		names[strings.Join(append([]string{"govent"}, path...), " ")] = true
	})
	for name := range interruptible {
		assert.True(t, names[name], "%s is no command", name)
	}
}

// Ctrl-C stops a real search at once while it waits on the handshake with
// a --peer that took the connection and says nothing: it ends as a search
// interrupted before any result, its last line {"results":0,
// "reason":"interrupted"} and exit status 0. Before, the handshake did not
// watch the interrupt: the search waited out the handshake timeout (10 s)
// and failed with "no peer could be reached: ... i/o timeout".
func TestSearchInterruptedDuringHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	ln, accepted := silentListener(t)
	cmd := exec.Command(bin, "search", "--peer", ln.Addr().String(), "--timeout", "20s", "--json", "zzz")
	cmd.Env = testEnviron()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("search did not dial its --peer")
	}
	time.Sleep(100 * time.Millisecond) // its handshake block is sent: it reads
	sent := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	took := time.Since(sent)
	require.NoError(t, err, "stdout %q stderr %q", stdout.String(), stderr.String())
	assert.Less(t, took, 2*time.Second, "it waited for the handshake timeout")
	assert.Equal(t, `{"results":0,"reason":"interrupted"}`+"\n", stdout.String())
	assert.NotContains(t, stderr.String(), "no peer could be reached")
}

// Ctrl-C ends a real browse with one line saying it was interrupted, the
// same whether it came at once (as soon as package interrupt catches it,
// while the program initialises and dials) or while the servent said
// nothing, and exit status 1. Before, it printed the bare error of the
// step it cut: "browse: dial tcp ...: operation was canceled" early,
// "...: context canceled" later.
func TestBrowseInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	ln, accepted := silentListener(t)
	want := "govent: browse: interrupted before any file arrived from " + ln.Addr().String() + "\n"
	for _, early := range []bool{true, false} {
		select {
		case <-accepted: // the run before's
		default:
		}
		cmd := exec.Command(bin, "browse", ln.Addr().String())
		cmd.Env = testEnviron()
		var stdout strings.Builder
		cmd.Stdout = &stdout
		said := startPastInit(t, cmd)
		timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
		if !early {
			<-accepted
			time.Sleep(300 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		stderr := said()
		err := cmd.Wait()
		timer.Stop()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "early %v", early)
		assert.Equal(t, 1, exit.ExitCode(), "early %v (-1: killed by it)", early)
		assert.Equal(t, want, stderr, "early %v", early)
		assert.Empty(t, stdout.String())
	}
}

// silentListener is a loopback listener that takes every connection and
// never answers; accepted gets a value for each it took (it drops those
// nobody waits for).
func silentListener(t *testing.T) (_ net.Listener, accepted <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	took := make(chan struct{}, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case took <- struct{}{}:
			default:
			}
			go func() { <-t.Context().Done(); conn.Close() }()
		}
	}()
	return ln, took
}

// startPastInit starts cmd (its Env set) and returns once package
// interrupt's init has run, as the runtime reports under
// GODEBUG=inittrace=1: from then on a SIGINT is caught. rest reads its
// standard error to the end, less the init trace.
func startPastInit(t *testing.T, cmd *exec.Cmd) (rest func() string) {
	const initLine = "init github.com/govent/govent/cmd/internal/interrupt @"
	cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(stderr)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no %q line: %v", initLine, err)
		}
		if strings.HasPrefix(line, initLine) {
			break
		}
	}
	return func() string {
		b, _ := io.ReadAll(r)
		var said strings.Builder
		for line := range strings.Lines(string(b)) {
			if !strings.HasPrefix(line, "init ") {
				said.WriteString(line)
			}
		}
		return said.String()
	}
}
