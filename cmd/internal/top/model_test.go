package top

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/control"
)

// recorded are two snapshots of a real daemon a second or so apart: one
// ultrapeer peer, a search between them, a finished download and a failed
// one (testdata/snapshots.json, taken from govent run's control API).
func recorded(t *testing.T) []Snapshot {
	b, err := os.ReadFile("testdata/snapshots.json")
	require.NoError(t, err)
	var snaps []Snapshot
	require.NoError(t, json.Unmarshal(b, &snaps))
	require.Len(t, snaps, 2)
	return snaps
}

func feed(m Model, msgs ...tea.Msg) Model {
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		m = next.(Model)
	}
	return m
}

func TestViewFromRecordedSnapshots(t *testing.T) {
	snaps := recorded(t)
	m := NewModel(false, nil, 0)
	assert.Equal(t, "govent top: waiting for the daemon...\n", m.Render())

	m = feed(m, SnapshotMsg{Snapshot: snaps[0]})
	v := m.Render()
	t.Log("\n" + v)
	assert.Contains(t, v, "govent top  ultrapeer 127.0.0.1:")
	assert.Contains(t, v, "peers 1 (1 ultrapeer, 0 leaves)")
	assert.Regexp(t, `(?m)^  127\.0\.0\.1:41113 +ultrapeer Govent/0\.1\.0 +\ds +- +- +0\.\d\d  -$`, v, "no rates from one snapshot")
	assert.Contains(t, v, "TRAFFIC IN (since the links began)")
	assert.Regexp(t, `(?m)^  parade\.ogg +done +\[#{24}\] 100%  2\.9 MiB of 2\.9 MiB$`, v)
	assert.Regexp(t, `(?m)^  missing\.bin +failed +\[\.{24}\]   0%  0 B of 4\.8 MiB  httpxfer: download`, v)
	assert.Contains(t, v, "TRANSFERS (2 downloads, 0 uploads)")

	m = feed(m, SnapshotMsg{Snapshot: snaps[1]})
	v = m.Render()
	t.Log("\n" + v)
	assert.Regexp(t, `(?m)^  127\.0\.0\.1:41113 .* 4s +0 B/s +92 B/s  0\.86  -$`, v, "rates from two snapshots: 170 bytes out in 1.85 s")
	assert.Regexp(t, `TRAFFIC IN \(last 2 s\)\n  nothing\n`, v)
	assert.Regexp(t, `TRAFFIC OUT \(last 2 s\)\n  query +\[#{20}\] 100%  5\n`, v, "the five searches between the snapshots")

	m = feed(m, SnapshotMsg{Err: errors.New("connection refused")})
	v = m.Render()
	assert.Contains(t, v, "last refresh failed: connection refused")
	assert.Contains(t, v, "parade.ogg", "the last snapshot stays on screen")

	assert.True(t, m.View().AltScreen, "a full-screen view")
	assert.Equal(t, v, m.View().Content)
}

func TestKeysThatQuit(t *testing.T) {
	m := NewModel(false, nil, 0)
	for _, k := range []tea.KeyPressMsg{{Code: 'q', Text: "q"}, {Code: 'c', Mod: tea.ModCtrl}, {Code: tea.KeyEscape}} {
		_, cmd := m.Update(k)
		require.NotNil(t, cmd, "%s", k)
		assert.Equal(t, tea.Quit(), cmd(), "%s quits", k)
	}
	for _, k := range []tea.Msg{tea.KeyPressMsg{Code: 'x', Text: "x"}, tea.KeyReleaseMsg{Code: 'q', Text: "q"}} {
		_, cmd := m.Update(k)
		assert.Nil(t, cmd, "%v does not quit", k)
	}
}

func TestBar(t *testing.T) {
	assert.Equal(t, "[..........]", bar(0, 10))
	assert.Equal(t, "[#####.....]", bar(0.5, 10))
	assert.Equal(t, "[##########]", bar(1, 10))
	assert.Equal(t, "[##########]", bar(3, 10), "clamped")
}

func TestViewShowsUploads(t *testing.T) {
	s := recorded(t)[1]
	s.Transfers.Uploads = []control.Upload{{Remote: "127.0.0.1:5000", Name: "penguin.ogg", Size: 4 << 20, Length: 4 << 20, Sent: 1 << 20}}
	s.Transfers.Downloads = append(s.Transfers.Downloads, control.Download{Name: "walrus.ogg", State: control.StateRunning, Total: 1000,
		Queued: []control.QueuePlace{{Source: "127.0.0.1:6000", Position: 3, Length: 12}}})
	v := feed(NewModel(false, nil, 0), SnapshotMsg{Snapshot: s}).Render()
	assert.Regexp(t, `(?m)^  walrus\.ogg +running +\[\.{24}\]   0%  0 B of 1000 B  queued 3 of 12 at 127\.0\.0\.1:6000$`, v)
	assert.Regexp(t, `(?m)^  penguin\.ogg +upload  \[#{6}\.{18}\]  25%  1\.0 MiB of 4\.0 MiB to 127\.0\.0\.1:5000$`, v)
}

func TestStyledView(t *testing.T) {
	s := recorded(t)[0]
	m := feed(NewModel(true, nil, 0), SnapshotMsg{Snapshot: s}, SnapshotMsg{Err: errors.New("connection refused")})
	v := m.Render()
	assert.Regexp(t, "^\x1b\\[1;7mgovent top  ultrapeer [^\x1b]*\x1b\\[m\n", v, "the title is bold and reversed")
	assert.Contains(t, v, "\n\x1b[1mPEERS (1)\x1b[m\n", "headers are bold")
	assert.Contains(t, v, "\x1b[91mlast refresh failed: connection refused\x1b[m", "errors are bright red")
	assert.NotContains(t, feed(NewModel(false, nil, 0), SnapshotMsg{Snapshot: s}).Render(), "\x1b", "plain text without styles")
}
