// Package top is govent top: a live view of a running servent (its peers
// with their rates, the traffic mix, drops, transfers with progress bars),
// built on bubbletea. The Model holds snapshots and renders them; it never
// fetches, so tests feed it recorded snapshots and check Render without a
// terminal. Run wires it to a daemon's control API, refreshing every
// interval, and Plain prints the same view as lines when the output is no
// terminal.
package top

import (
	"context"
	"time"

	"github.com/govent/govent/servent/control"
)

// Snapshot is what one refresh fetches from the daemon.
type Snapshot struct {
	At        time.Time         `json:"at"`
	Status    control.Status    `json:"status"`
	Peers     []control.Peer    `json:"peers"`
	Transfers control.Transfers `json:"transfers"`
}

// Fetch takes a snapshot through the control API.
func Fetch(ctx context.Context, cl *control.Client) (Snapshot, error) {
	var s Snapshot
	var err error
	if s.Status, err = cl.Status(ctx); err != nil {
		return s, err
	}
	if s.Peers, err = cl.Peers(ctx); err != nil {
		return s, err
	}
	if s.Transfers, err = cl.Transfers(ctx); err != nil {
		return s, err
	}
	s.At = time.Now()
	return s, nil
}
