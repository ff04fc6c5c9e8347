package main

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/govent/govent/servent"
)

// runInProcess runs `govent run` with args in-process and returns its servent
// once started; it stops when the test ends.
func runInProcess(t *testing.T, args ...string) *servent.Servent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan *servent.Servent, 1)
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append([]string{"govent", "run"}, args...), env{
			lookupEnv: func(string) (string, bool) { return "", false },
			stdout:    io.Discard, stderr: io.Discard,
			serve: func(ctx context.Context, rc runConfig, _ *zap.Logger) error {
				s, err := servent.New(rc.Config)
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.Start(ctx); err != nil {
					return err
				}
				started <- s
				<-ctx.Done()
				return nil
			},
		})
	}()
	t.Cleanup(func() { cancel(); <-exited })
	select {
	case s := <-started:
		return s
	case code := <-exited:
		t.Fatalf("govent run %v exited %d", args, code)
		return nil
	}
}

// The README's advice for several servents on one host: a servent counts
// every link from 127.0.0.1 against one address's limits, so the third
// servent of the host is refused; started with --per-address 8, it takes
// three and a search besides.
func TestSeveralServentsOnOneHost(t *testing.T) {
	join := func(hub *servent.Servent) []error {
		var errs []error
		for range 3 {
			s, err := servent.New(servent.Config{Listen: "127.0.0.1:0", NoBootstrap: true, AllowPrivate: true})
			require.NoError(t, err)
			require.NoError(t, s.Start(t.Context()))
			t.Cleanup(func() { s.Close() })
			errs = append(errs, s.Connect(hub.Addr()))
		}
		return errs
	}

	plain := runInProcess(t, "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off")
	errs := join(plain)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Error(t, errs[2], "the third servent from 127.0.0.1")
	assert.Contains(t, errs[2].Error(), "503 Too Many Connections From Your Address")

	hub := runInProcess(t, "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off", "--per-address", "8")
	for i, err := range join(hub) {
		assert.NoError(t, err, "servent %d", i+1)
	}
	code, out, errOut := runCLI(t, "", "search", "--peer", hub.Addr().String(), "--listen", "127.0.0.1:0", "--timeout", "300ms", "nothing here")
	assert.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
}

// A second servent given the port of the first is told how to get one of
// its own, as the control API's address is: run, and search and get with
// --listen, share the Gnutella listener.
func TestBusyListenPortHint(t *testing.T) {
	first := runInProcess(t, "--listen", "127.0.0.1:0", "--no-bootstrap", "--control", "off")
	busy := first.Addr().String()
	for _, args := range [][]string{
		{"run", "--listen", busy, "--no-bootstrap", "--control", "off"},
		{"search", "--peer", busy, "--listen", busy, "--timeout", "300ms", "nothing here"},
		{"get", "urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--source", "ba5eba11ba5eba11ba5eba11ba5eba11", "--peer", busy, "--listen", busy, "--dir", t.TempDir()},
	} {
		code, _, errOut := runCLI(t, "", args...)
		assert.Equal(t, 1, code, "%v: %s", args, errOut)
		assert.Contains(t, errOut, "govent: listen on "+busy+": address already in use (another servent uses it; pass --listen 127.0.0.1:0 or another port)\n", args)
	}
	// The hint keeps the host the user gave: all interfaces stay so.
	code, _, errOut := runCLI(t, "", "run", "--listen", fmt.Sprintf(":%d", first.Addr().Port()), "--no-bootstrap", "--control", "off")
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "pass --listen :0 or another port")
}
