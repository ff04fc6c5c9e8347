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
// q (or Ctrl-C) or ctx ends.
func Run(ctx context.Context, cl *control.Client, in io.Reader, out io.Writer, interval time.Duration) error {
	fetch := func() tea.Msg {
		s, err := Fetch(ctx, cl)
		return SnapshotMsg{Snapshot: s, Err: err}
	}
	m := NewModel(true, fetch, interval)
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithOutput(out)}
	if in != os.Stdin {
		// bubbletea puts its default input, standard input, in raw mode
		// when it is a terminal, so that q arrives without a newline; a
		// reader of our own is used as it is.
		opts = append(opts, tea.WithInput(in))
	}
	p := tea.NewProgram(m, opts...)
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
	enc := json.NewEncoder(out)
	m := NewModel(false, nil, interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil
			}
		}
		s, err := Fetch(ctx, cl)
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
