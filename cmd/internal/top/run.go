package top

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/govent/govent/servent/control"
)

// Run shows the live view on the terminal out, reading keys from in, until
// q (or Ctrl-C) or ctx ends. However it ends, Run returns once the view has
// stopped reading in and given the terminal back.
//
// ctx ending quits the view as q does, never kills it: bubbletea kills a
// program whose context (tea.WithContext) ends, and a kill closes the
// input's cancel pipe under the reader still waking from it, a data race
// (a -race govent top on SIGTERM exited with status 66, the race
// detector's) and a terminal torn down while it is read. A quit waits for
// the reader. For the same reason bubbletea's own signal handler is off
// (its SIGINT kills the program too): signals are the caller's, and end
// ctx (govent top's signal.NotifyContext).
func Run(ctx context.Context, cl *control.Client, in io.Reader, out io.Writer, interval time.Duration) error {
	fetch := func() tea.Msg {
		s, err := Fetch(ctx, cl)
		return SnapshotMsg{Snapshot: s, Err: err}
	}
	m := NewModel(true, fetch, interval)
	opts := []tea.ProgramOption{tea.WithOutput(out), tea.WithoutSignalHandler()}
	if in != os.Stdin {
		// bubbletea puts its default input, standard input, in raw mode
		// when it is a terminal, so that q arrives without a newline; a
		// reader of our own is used as it is.
		opts = append(opts, tea.WithInput(in))
	}
	p := tea.NewProgram(m, opts...)
	// Quit is a message the program takes in turn; sent after Run has
	// returned, it is dropped.
	stop := context.AfterFunc(ctx, p.Quit)
	defer stop()
	_, err := p.Run()
	if err != nil && ctx.Err() != nil {
		return nil // interrupted: a normal way to leave
	}
	return err
}

// Plain prints the view as plain lines every interval, count times (0:
// until ctx ends), for output that is no terminal; asJSON prints each
// snapshot as a line of JSON instead. A refresh that fails ends it with the
// error.
func Plain(ctx context.Context, cl *control.Client, out io.Writer, interval time.Duration, count int, asJSON bool) error {
	return plain(ctx, func(ctx context.Context) (Snapshot, error) { return Fetch(ctx, cl) }, out, interval, count, asJSON)
}

// plain is Plain with its fetch given. Each wait starts when the fetch
// before it has ended, so that samples are interval apart however long
// the first fetch (a new connection) takes, and a slow one is not followed
// at once by the tick it missed.
func plain(ctx context.Context, fetch func(context.Context) (Snapshot, error), out io.Writer, interval time.Duration, count int, asJSON bool) error {
	enc := json.NewEncoder(out)
	m := NewModel(false, nil, interval)
	t := time.NewTimer(interval)
	defer t.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			t.Reset(interval)
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil
			}
		}
		s, err := fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if asJSON {
			if err := enc.Encode(s); err != nil {
				return err
			}
			continue
		}
		next, _ := m.Update(SnapshotMsg{Snapshot: s})
		m = next.(Model)
		if _, err := fmt.Fprintf(out, "%s\n", m.Render()); err != nil {
			return err
		}
	}
	return nil
}
