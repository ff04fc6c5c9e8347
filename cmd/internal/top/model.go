package top

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/servent/control"
)

// SnapshotMsg delivers a snapshot, or the error that stood in its way.
type SnapshotMsg struct {
	Snapshot Snapshot
	Err      error
}

// Model is the state of the view: the last two snapshots (rates are their
// difference) and the last error.
type Model struct {
	prev, cur *Snapshot
	err       error
	width     int
	styles    styles
	// fetch takes a snapshot, every interval; nil in tests, which deliver
	// snapshots themselves.
	fetch    func() tea.Msg
	interval time.Duration
}

type styles struct {
	title, header, bad ansi.Style
}

// NewModel returns an empty model. Styled, the view has bold headers and
// red errors (bubbletea downsamples the colour to what the terminal has);
// otherwise it is plain text. fetch, if set, is called at once and then
// every interval for the next snapshot.
//
// The styles are SGR sequences from x/ansi, not lipgloss: lipgloss v2
// detects the terminal's colours when its package loads, which runs
// "tmux info" in every govent command inside tmux.
func NewModel(styled bool, fetch func() tea.Msg, interval time.Duration) Model {
	m := Model{fetch: fetch, interval: interval, width: 100}
	if styled {
		m.styles = styles{
			title:  ansi.NewStyle().Bold().Reverse(true),
			header: ansi.NewStyle().Bold(),
			bad:    ansi.NewStyle().ForegroundColor(ansi.BrightRed),
		}
	}
	return m
}

// Init starts the first fetch.
func (m Model) Init() tea.Cmd {
	if m.fetch == nil {
		return nil
	}
	return m.fetch
}

// Update takes a snapshot, a key or a window size.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case SnapshotMsg:
		if msg.Err != nil {
			m.err = msg.Err
		} else {
			s := msg.Snapshot
			m.prev, m.cur, m.err = m.cur, &s, nil
		}
		if m.fetch != nil {
			return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return m.fetch() })
		}
	case tea.KeyPressMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.width = msg.Width
	}
	return m, nil
}

// View is the full-screen view of the last snapshot.
func (m Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	return v
}

// Render is the text of the view: the last snapshot, or why there is none.
func (m Model) Render() string {
	var b strings.Builder
	if m.cur == nil {
		if m.err != nil {
			return m.styles.bad.Styled("govent top: "+m.err.Error()) + "\n"
		}
		return "govent top: waiting for the daemon...\n"
	}
	s := m.cur
	st := s.Status
	addr := st.Addr
	if addr == "" {
		addr = "dial-only"
	}
	b.WriteString(m.styles.title.Styled(fmt.Sprintf("govent top  %s %s  up %s  peers %d (%s, %s)  shared %s",
		st.Role, addr, (time.Duration(st.UptimeSec) * time.Second).String(), st.Peers, english.Count(st.Ultrapeers, "ultrapeer", "ultrapeers"),
		english.Count(st.Leaves, "leaf", "leaves"), english.Count(st.Files, "file", "files"))))
	b.WriteString("\n")
	if m.err != nil {
		b.WriteString(m.styles.bad.Styled("last refresh failed: "+m.err.Error()) + "\n")
	}
	m.peers(&b)
	m.traffic(&b)
	m.drops(&b)
	m.transfers(&b)
	return b.String()
}

func (m Model) section(b *strings.Builder, name string) {
	b.WriteString("\n" + m.styles.header.Styled(name) + "\n")
}

// dt is the time between the two snapshots, 0 when there is one.
func (m Model) dt() float64 {
	if m.prev == nil {
		return 0
	}
	return m.cur.At.Sub(m.prev.At).Seconds()
}

func (m Model) prevPeer(addr string) (control.Peer, bool) {
	if m.prev == nil {
		return control.Peer{}, false
	}
	for _, p := range m.prev.Peers {
		if p.Addr == addr {
			return p, true
		}
	}
	return control.Peer{}, false
}

func sum(v map[string]uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}

// rate is "1.2 KiB/s" from two totals, "-" without a previous one.
func rate(now, before uint64, dt float64, ok bool) string {
	if !ok || dt <= 0 || now < before {
		return "-"
	}
	return humanBytes(float64(now-before)/dt) + "/s"
}

func (m Model) peers(b *strings.Builder) {
	m.section(b, fmt.Sprintf("PEERS (%d)", len(m.cur.Peers)))
	if len(m.cur.Peers) == 0 {
		b.WriteString("  none\n")
		return
	}
	fmt.Fprintf(b, "  %-21s %-9s %-18s %8s %11s %11s %5s  %s\n", "ADDRESS", "ROLE", "AGENT", "AGE", "IN", "OUT", "RATIO", "DROPS")
	peers := slices.Clone(m.cur.Peers)
	slices.SortFunc(peers, func(a, b control.Peer) int { return strings.Compare(a.Addr, b.Addr) })
	for _, p := range peers {
		old, ok := m.prevPeer(p.Addr)
		drops := "-"
		if n := sum(p.Drops); n > 0 {
			drops = fmt.Sprint(n)
		}
		fmt.Fprintf(b, "  %-21s %-9s %-18s %8s %11s %11s %5.2f  %s\n", p.Addr, p.Role, clip(p.UserAgent, 18),
			(time.Duration(p.AgeSec) * time.Second).String(),
			rate(sum(p.BytesIn), sum(old.BytesIn), m.dt(), ok), rate(sum(p.BytesOut), sum(old.BytesOut), m.dt(), ok),
			p.CompressionRatio, drops)
	}
}

// traffic shows the mix of descriptors received and sent since the last
// snapshot (since each link began, on the first), by type, as bars.
func (m Model) traffic(b *strings.Builder) {
	what := "since the links began"
	if m.prev != nil {
		what = fmt.Sprintf("last %.0f s", m.dt())
	}
	m.mix(b, "TRAFFIC IN ("+what+")", func(p control.Peer) map[string]uint64 { return p.MessagesIn })
	m.mix(b, "TRAFFIC OUT ("+what+")", func(p control.Peer) map[string]uint64 { return p.MessagesOut })
}

func (m Model) mix(b *strings.Builder, title string, count func(control.Peer) map[string]uint64) {
	mix := map[string]uint64{}
	for _, p := range m.cur.Peers {
		old, _ := m.prevPeer(p.Addr)
		for t, n := range count(p) {
			if before := count(old)[t]; n >= before {
				mix[t] += n - before
			}
		}
	}
	m.section(b, title)
	total := sum(mix)
	if total == 0 {
		b.WriteString("  nothing\n")
		return
	}
	types := slices.Collect(maps.Keys(mix))
	slices.SortFunc(types, func(x, y string) int {
		if mix[x] != mix[y] {
			return int(mix[y]) - int(mix[x])
		}
		return strings.Compare(x, y)
	})
	for _, t := range types {
		if mix[t] == 0 {
			continue
		}
		frac := float64(mix[t]) / float64(total)
		fmt.Fprintf(b, "  %-9s %s %3.0f%%  %d\n", t, bar(frac, 20), 100*frac, mix[t])
	}
}

func (m Model) drops(b *strings.Builder) {
	all := map[string]uint64{}
	for _, p := range m.cur.Peers {
		for r, n := range p.Drops {
			all[r] += n
		}
	}
	m.section(b, "DROPS (live links, since they began)")
	if sum(all) == 0 {
		b.WriteString("  none\n")
		return
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(all)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, all[r]))
	}
	b.WriteString("  " + strings.Join(parts, "  ") + "\n")
}

func (m Model) transfers(b *strings.Builder) {
	tr := m.cur.Transfers
	m.section(b, fmt.Sprintf("TRANSFERS (%s, %s)", english.Count(len(tr.Downloads), "download", "downloads"), english.Count(tr.UploadsActive, "upload", "uploads")))
	if len(tr.Downloads) == 0 {
		b.WriteString("  no downloads\n")
	}
	for _, d := range tr.Downloads {
		frac := 0.0
		if d.Total > 0 {
			frac = float64(d.Done) / float64(d.Total)
		}
		line := fmt.Sprintf("  %-24s %-7s %s %3.0f%%  %s of %s", clip(d.Name, 24), d.State, bar(frac, 24), 100*frac,
			humanBytes(float64(d.Done)), humanBytes(float64(d.Total)))
		if d.Error != "" {
			line += "  " + m.styles.bad.Styled(clip(d.Error, max(m.width-len(line)-2, 20)))
		}
		if len(d.Queued) > 0 {
			p := d.Queued[0]
			line += fmt.Sprintf("  queued %d", p.Position)
			if p.Length > 0 {
				line += fmt.Sprintf(" of %d", p.Length)
			}
			line += " at " + p.Source
		}
		b.WriteString(line + "\n")
	}
	for _, u := range tr.Uploads {
		frac := 0.0
		if u.Length > 0 {
			frac = float64(u.Sent) / float64(u.Length)
		}
		fmt.Fprintf(b, "  %-24s %-7s %s %3.0f%%  %s of %s to %s\n", clip(u.Name, 24), "upload", bar(frac, 24), 100*frac,
			humanBytes(float64(u.Sent)), humanBytes(float64(u.Length)), u.Remote)
	}
}

// bar is a progress bar of width cells for frac (0 to 1).
func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

func humanBytes(n float64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	exp := 0
	for n >= unit*unit && exp < 5 {
		n /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", n/unit, "KMGTPE"[exp])
}
