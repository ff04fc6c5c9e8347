package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ctrl-C (or SIGTERM, SIGHUP, or its standard output closed, as by
// govent demo | head -1) stops a real govent demo process at once, at any
// step: it exits 1 saying it was interrupted, and the temporary directory
// it named in its first line is gone, as the README promises ("removes
// everything it wrote"). Before, the signal (SIGHUP, SIGPIPE) killed the
// process where it stood and left the directory behind.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's servents")
	}
	bin := buildGovent(t)
	filesIn := regexp.MustCompile(`files in (\S+)$`)
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal // 0: close the read end of its standard output
		after string         // interrupt once a line with this text is out
		cause string         // what the message says stopped it
	}{
		{"SIGINT while writing the shares", syscall.SIGINT, "files in ", "interrupt signal received"},
		{"SIGINT while searching", syscall.SIGINT, " searches for ", "interrupt signal received"},
		{"SIGTERM while searching", syscall.SIGTERM, " searches for ", "terminated signal received"},
		{"SIGHUP while writing the shares", syscall.SIGHUP, "files in ", "hangup signal received"},
		{"standard output closed after the first line", 0, "files in ", "output closed: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "demo")
			cmd.Env = testEnviron()
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			lines := bufio.NewScanner(stdout)
			var out strings.Builder
			dir := readUntil(lines, &out, filesIn, tc.after)
			if dir == "" {
				// Wait before reading stderr: exec writes it until then.
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("the demo names its directory first\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
			}
			require.DirExists(t, dir)
			if tc.sig == 0 {
				require.NoError(t, stdout.Close())
			} else {
				require.NoError(t, cmd.Process.Signal(tc.sig))
			}
			go func() {
				for tc.sig != 0 && lines.Scan() {
					out.WriteString(lines.Text() + "\n")
				}
				exited <- cmd.Wait()
			}()
			select {
			case err = <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("the demo did not stop (%s)\n%s", tc.name, out.String())
			}
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "exit: %v", err)
			assert.Equal(t, 1, exit.ExitCode(), "exit status (%s; -1: killed by a signal)\nstdout:\n%s\nstderr:\n%s", tc.name, out.String(), stderr.String())
			assert.Contains(t, stderr.String(), "demo: interrupted ("+tc.cause)
			_, err = os.Stat(dir)
			assert.True(t, os.IsNotExist(err), "%s is left behind: %v", dir, err)
			os.RemoveAll(dir)
		})
	}
}

// govent demo 2>&1 | head -1 exits 1, as govent demo | head -1 does: the
// message that it was interrupted goes to the closed output too, and that
// write must not kill it by SIGPIPE (status 141 in a shell). Before, the
// SIGPIPE catch ended before the message was written.
func TestDemoOutputAndErrorClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's servents")
	}
	bin := buildGovent(t)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(bin, "demo")
	cmd.Env = testEnviron()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	pw.Close()
	timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	lines := bufio.NewScanner(pr)
	var out strings.Builder
	dir := readUntil(lines, &out, regexp.MustCompile(`files in (\S+)$`), "files in ")
	require.NoError(t, pr.Close())
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	ws := exit.Sys().(syscall.WaitStatus)
	assert.False(t, ws.Signaled(), "killed by %v\n%s", ws.Signal(), out.String())
	assert.Equal(t, 1, exit.ExitCode())
	require.NotEmpty(t, dir, out.String())
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "%s is left behind: %v", dir, err)
	os.RemoveAll(dir)
}

// readUntil copies lines to out up to the first holding stop, and returns
// re's first submatch in them ("" when none matched).
func readUntil(lines *bufio.Scanner, out *strings.Builder, re *regexp.Regexp, stop string) string {
	found := ""
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if m := re.FindStringSubmatch(lines.Text()); m != nil && found == "" {
			found = m[1]
		}
		if strings.Contains(lines.Text(), stop) {
			break
		}
	}
	return found
}
