//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal pair: the master, which the test reads
// and writes as the terminal emulator would, and the slave, which the
// command gets as its terminal. It skips when the machine has no
// /dev/ptmx.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	// A new pty's slave is locked until the master unlocks it (what
	// unlockpt(3) does); TIOCGPTN names it (ptsname(3)).
	fd := int(master.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0), "unlock the pty")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err, "pty number")
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { slave.Close() })
	// A new pty is 0 by 0; an emulator sets the size of its window.
	require.NoError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}))
	return master, slave
}

// ptyProc is a govent process whose standard input, output and error are
// the slave of a pseudo-terminal; out collects what it wrote there.
type ptyProc struct {
	cmd    *exec.Cmd
	master *os.File
	out    *syncBuffer
	read   chan struct{} // closed when the master reads end of file
	done   chan struct{} // closed when the process has exited
	err    error
}

// startOnPty starts bin with args on a fresh pseudo-terminal, bounded by
// two minutes.
func startOnPty(t *testing.T, bin string, args ...string) *ptyProc {
	t.Helper()
	return startOnPtyEnv(t, nil, bin, args...)
}

// startOnPtyEnv is startOnPty with environment variables set (or
// replaced) on top of the test's. The terminal is an xterm that claims no
// colours beyond its terminfo entry.
func startOnPtyEnv(t *testing.T, environ []string, bin string, args ...string) *ptyProc {
	t.Helper()
	master, slave := openPty(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	p := &ptyProc{cmd: exec.CommandContext(ctx, bin, args...), master: master, out: &syncBuffer{},
		read: make(chan struct{}), done: make(chan struct{})}
	for _, kv := range testEnviron() {
		if k, _, _ := strings.Cut(kv, "="); k != "COLORTERM" && k != "TMUX" {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	// Later values win: exec.Cmd keeps the last of a repeated name.
	p.cmd.Env = append(p.cmd.Env, "GORACE=atexit_sleep_ms=0", "TERM=xterm-256color")
	p.cmd.Env = append(p.cmd.Env, environ...)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	// A session of its own with the pty as its controlling terminal, as
	// a shell gives the command a user types: the command is then in the
	// terminal's foreground process group, where libraries that query
	// the terminal do.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, p.cmd.Start())
	slave.Close() // the child has its own; the master reads EIO once it exits
	go func() {
		// Reading the master until it fails keeps the child from
		// blocking on a full pty; EIO is how a master sees the last
		// slave close.
		io.Copy(p.out, master)
		close(p.read)
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and for the master to have read all
// it wrote.
func (p *ptyProc) wait(t *testing.T) {
	t.Helper()
	<-p.done
	<-p.read
}

// Terminal queries: a program that writes them waits for an answer that a
// pty without an emulator, a serial console or a multiplexer never gives.
var (
	oscIntroducer = []byte("\x1b]")   // OSC, e.g. ESC ] 11 ; ? (background colour)
	cursorQuery   = []byte("\x1b[6n") // DSR, cursor position report
)

// TestVersionOnTerminalWritesNoQueries runs govent version on a terminal:
// it prints its line and nothing else. The terminal UI library that govent
// top uses must not query the terminal (and wait for an answer) in every
// command that links it.
func TestVersionOnTerminalWritesNoQueries(t *testing.T) {
	bin := buildGovent(t)
	plain, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.Regexp(t, `^govent \S+ \(go\S+, linux/\S+\)\n$`, string(plain))

	p := startOnPty(t, bin, "version")
	p.wait(t)
	require.NoError(t, p.err)
	got := p.out.String()
	assert.False(t, bytes.Contains([]byte(got), oscIntroducer), "an OSC query on the terminal: %q", got)
	assert.False(t, bytes.Contains([]byte(got), cursorQuery), "a cursor position query on the terminal: %q", got)
	// The terminal's line discipline turns \n into \r\n.
	assert.Equal(t, strings.ReplaceAll(string(plain), "\n", "\r\n"), got)
}

// TestTopOnTerminal runs govent top on a terminal that answers no query,
// as a serial console or a bare pty: the full-screen view comes up; q,
// Ctrl-C (which a raw terminal passes as a key) and SIGTERM leave it with
// status 0, and the terminal is given back its normal screen. The view
// asks the terminal nothing it would wait for.
func TestTopOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds govent and runs it")
	}
	bin := buildGovent(t)
	data := t.TempDir()
	d := startDaemon(t, bin, data)
	typing := func(keys string) func(*ptyProc) error {
		return func(p *ptyProc) error { _, err := p.master.Write([]byte(keys)); return err }
	}
	for _, c := range []struct {
		name  string
		leave func(*ptyProc) error
	}{
		{"q", typing("q")},
		{"ctrl-c", typing("\x03")},
		{"SIGTERM", func(p *ptyProc) error { return p.cmd.Process.Signal(syscall.SIGTERM) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startOnPty(t, bin, "top", "--data", data, "--interval", "100ms")
			require.Eventually(t, func() bool { return strings.Contains(p.out.String(), "TRANSFERS") }, 30*time.Second, 20*time.Millisecond,
				"the view comes up without an answer from the terminal: %q", p.out.String())
			require.NoError(t, c.leave(p))
			p.wait(t)
			// A -race govent that saw a data race exits with status 66
			// and its report on the terminal.
			require.NoError(t, p.err, "%s leaves top with status 0: %q", c.name, p.out.String())
			got := p.out.String()
			assert.Contains(t, got, "PEERS (0)")
			enter, leave := strings.Index(got, "\x1b[?1049h"), strings.LastIndex(got, "\x1b[?1049l")
			assert.True(t, enter >= 0 && leave > enter, "the alternate screen is entered, then left: %q", got)
			assert.False(t, bytes.Contains([]byte(got), oscIntroducer), "an OSC query on the terminal: %q", got)
			assert.False(t, bytes.Contains([]byte(got), cursorQuery), "a cursor position query on the terminal: %q", got)
		})
	}
	d.stop(t)
}

// TestVersionInTmuxRunsNothing runs govent version on a terminal inside
// tmux (TMUX set, a tmux of the test's own on PATH that records being run):
// a command that is not top starts no program of the terminal's. A colour
// library that detects the terminal's colours when its package loads asks
// tmux for them with "tmux info", in every command.
func TestVersionInTmuxRunsNothing(t *testing.T) {
	bin := buildGovent(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "tmux-ran")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmux"), []byte("#!/bin/sh\necho \"$@\" >>"+ran+"\n"), 0o755))

	p := startOnPtyEnv(t, []string{"TMUX=/tmp/tmux-1000/default,1,0", "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}, bin, "version")
	p.wait(t)
	require.NoError(t, p.err)
	assert.Regexp(t, `^govent \S+ `, p.out.String())
	_, err := os.Stat(ran)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "govent version ran tmux")
}
