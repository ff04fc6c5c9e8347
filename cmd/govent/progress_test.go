package main

import (
	"bytes"
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	require.False(t, p.tty, "a buffer is not a terminal")
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	const total = 10 << 20
	p.update(0, total)
	for done := int64(1 << 20); done <= total; done += 1 << 20 {
		clock = clock.Add(100 * time.Millisecond) // 10 MiB/s
		p.update(done, total)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// One line at the start and one per tenth: the bar is not redrawn.
	assert.Len(t, lines, 11)
	assert.Equal(t, "progress: 0 B of 10.0 MiB (0%), 0 B/s, ETA ?", lines[0])
	assert.Equal(t, "progress: 10.0 MiB of 10.0 MiB (100%), 10.0 MiB/s, ETA 0s", lines[10])
	assert.Contains(t, lines[5], "(50%)")
	assert.Contains(t, lines[5], "ETA 1s")
}

// The downloader may report the last byte more than once (written, then
// verified): the plain output says 100% once.
func TestProgressCompleteOnce(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	p.update(0, 4<<20)
	clock = clock.Add(2 * time.Second)
	p.update(4<<20, 4<<20)
	clock = clock.Add(2 * time.Second)
	p.update(4<<20, 4<<20)
	p.finish()
	assert.Equal(t, 1, strings.Count(buf.String(), "(100%)"), buf.String())
}

func TestProgressResumeRateExcludesExistingBytes(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	p.update(6<<20, 8<<20)
	clock = clock.Add(time.Second)
	p.update(7<<20, 8<<20)
	out := buf.String()
	assert.Contains(t, out, "resuming at 6.0 MiB")
	assert.Contains(t, out, "7.0 MiB of 8.0 MiB (87%), 1.0 MiB/s, ETA 1s")
}

func TestProgressTerminalBar(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.tty = true
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	p.update(0, 100)
	clock = clock.Add(time.Second)
	p.update(50, 100)
	p.finish()
	out := buf.String()
	assert.Contains(t, out, "\r[===============               ]  50% 50 B of 100 B  50 B/s  ETA 1s")
	assert.True(t, strings.HasSuffix(out, "\n"), "finish ends the bar's line")
}

// A queue place is a line of its own, after the bar's line.
func TestProgressQueued(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.tty = true
	p.update(0, 100)
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}
	p.queued(src, httpxfer.QueueStatus{ID: "ab", Position: 3, Length: 7, PollMin: time.Minute})
	p.queued(src, httpxfer.QueueStatus{Position: 2, PollMin: 45 * time.Second})
	lines := strings.Split(buf.String(), "\n")
	require.Len(t, lines, 4)
	assert.True(t, strings.HasPrefix(lines[0], "\r["), "the bar, ended")
	assert.Equal(t, "queued at 10.0.0.1:6346: position 3 of 7, next poll in 1m0s", lines[1])
	assert.Equal(t, "queued at 10.0.0.1:6346: position 2, next poll in 45s", lines[2])
}

// Time spent waiting in a source's upload queue is not transfer time: the
// rate and the ETA after the wait are those of the bytes that flow.
func TestProgressRateExcludesQueueWait(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	const total = 20 << 20
	p.update(0, total)
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}
	p.queued(src, httpxfer.QueueStatus{ID: "ab", Position: 1, Length: 1, PollMin: 45 * time.Second})
	clock = clock.Add(90 * time.Second) // two polls, then a slot
	p.update(1<<20, total)
	clock = clock.Add(time.Second)
	p.update(3<<20, total) // 2 MiB in the second since the first bytes
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Equal(t, "progress: 3.0 MiB of 20.0 MiB (15%), 2.0 MiB/s, ETA 9s", lines[len(lines)-1])
}

// A source that keeps us at the same place says so at every poll; the
// output says it once, and again only when the place changes.
func TestProgressQueuedOncePerPlace(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}
	other := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.2:6346")}
	for range 3 {
		p.queued(src, httpxfer.QueueStatus{ID: "ab", Position: 4, Length: 9, PollMin: 30 * time.Second})
	}
	p.queued(other, httpxfer.QueueStatus{ID: "cd", Position: 4, Length: 9, PollMin: 30 * time.Second})
	p.queued(src, httpxfer.QueueStatus{ID: "ab", Position: 3, Length: 9, PollMin: 30 * time.Second})
	p.queued(src, httpxfer.QueueStatus{ID: "ab", Position: 3, Length: 9, PollMin: 30 * time.Second})
	assert.Equal(t, "queued at 10.0.0.1:6346: position 4 of 9, next poll in 30s\n"+
		"queued at 10.0.0.2:6346: position 4 of 9, next poll in 30s\n"+
		"queued at 10.0.0.1:6346: position 3 of 9, next poll in 30s\n", buf.String())
}

// A plain "503 Busy" source shows that we wait, and for how long, once
// while it says the same, again when the wait or the status changes; the
// wait is not transfer time.
func TestProgressBusyOncePerChange(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	const total = 20 << 20
	p.update(0, total)
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("127.0.0.1:6346")}
	other := httpxfer.Source{Addr: netip.MustParseAddrPort("127.0.0.2:6346")}
	for range 3 {
		p.busyWait(src, "503 Busy", 30*time.Second)
	}
	p.busyWait(other, "503 Busy", 30*time.Second)
	p.busyWait(src, "503 Busy", 10*time.Second)
	p.busyWait(src, "503 Library being rebuilt", 10*time.Second)
	clock = clock.Add(90 * time.Second)
	p.update(1<<20, total)
	clock = clock.Add(time.Second)
	p.update(3<<20, total)
	assert.Equal(t, "progress: 0 B of 20.0 MiB (0%), 0 B/s, ETA ?\n"+
		"waiting for 127.0.0.1:6346: 503 Busy, next try in 30s\n"+
		"waiting for 127.0.0.2:6346: 503 Busy, next try in 30s\n"+
		"waiting for 127.0.0.1:6346: 503 Busy, next try in 10s\n"+
		"waiting for 127.0.0.1:6346: 503 Library being rebuilt, next try in 10s\n"+
		"progress: 1.0 MiB of 20.0 MiB (5%), 0 B/s, ETA ?\n"+
		"progress: 3.0 MiB of 20.0 MiB (15%), 2.0 MiB/s, ETA 9s\n", buf.String())
}

// A source that takes the connection and stays silent is said at once
// (httpxfer calls Waiting after StallTimeout), before any size is known.
func TestProgressWaitingForAnswer(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("127.0.0.1:6346")}
	p.waitAnswer(src, 5*time.Second)
	p.busyWait(src, "no answer in 30s", 2*time.Second)
	p.waitAnswer(src, 5*time.Second)
	assert.Equal(t, "waiting for 127.0.0.1:6346 to answer (5s so far)\n"+
		"waiting for 127.0.0.1:6346: no answer in 30s, next try in 2s\n"+
		"waiting for 127.0.0.1:6346 to answer (5s so far)\n", buf.String())
}

// Interrupted before any byte arrived, it does not claim a .part keeps
// anything.
func TestProgressInterruptedBeforeData(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := newProgress(&bytes.Buffer{})
	err := p.failed(ctx, context.Canceled, "d/f.part")
	assert.EqualError(t, err, "interrupted before any data arrived: nothing is kept, and the same command starts it again")
	p.update(0, 100)
	p.update(10, 100)
	err = p.failed(ctx, context.Canceled, "d/f.part")
	assert.EqualError(t, err, "interrupted at 10 B of 100 B: d/f.part keeps what arrived, and the same command resumes it")
}

// The rate get prints while running and the per-source figure it prints
// at the end are one measure, bytes over the transfer's window: a 4 MiB
// download at 1 MiB/s shows 1.0 MiB/s in both, though httpxfer measured
// the source over its bodies alone (Rate, which ranks the sources: the
// connection and the requests between bodies do not count there). With
// two sources and a wait, the figures of the sources add up to the last
// line's.
func TestProgressRateIsTheFinalRate(t *testing.T) {
	src := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.1:6346")}
	other := httpxfer.Source{Addr: netip.MustParseAddrPort("10.0.0.2:6346")}
	lastRate := func(out string) string {
		lines := regexp.MustCompile(`(?m)^progress: .*, (\S+ \S+/s), ETA`).FindAllStringSubmatch(out, -1)
		require.NotEmpty(t, lines, out)
		return lines[len(lines)-1][1]
	}
	t.Run("one source", func(t *testing.T) {
		var buf bytes.Buffer
		p := newProgress(&buf)
		clock := time.Unix(1000, 0)
		p.now = func() time.Time { return clock }
		const total = 4 << 20
		p.update(0, total)
		for done := int64(512 << 10); done <= total; done += 512 << 10 {
			clock = clock.Add(500 * time.Millisecond)
			p.update(done, total)
		}
		p.finish()
		require.Equal(t, "1.0 MiB/s", lastRate(buf.String()))
		res := httpxfer.Result{Path: "d/f", Size: total, Sources: []httpxfer.SourceStats{{Source: src, Bytes: total, Rate: 1.1 * (1 << 20)}}}
		require.NoError(t, reportDownload(&buf, httpxfer.Request{}, res, p.rateOf))
		assert.Contains(t, buf.String(), "  1. 10.0.0.1:6346: 1.0 MiB/s measured, 4.0 MiB received\n")
	})
	t.Run("two sources and a wait", func(t *testing.T) {
		var buf bytes.Buffer
		p := newProgress(&buf)
		clock := time.Unix(1000, 0)
		p.now = func() time.Time { return clock }
		const total = 6 << 20
		p.update(0, total)
		clock = clock.Add(time.Second)
		p.update(1<<20, total)
		p.queued(src, httpxfer.QueueStatus{Position: 1, Length: 1, PollMin: time.Minute})
		clock = clock.Add(time.Minute)
		p.update(2<<20, total) // came in the wait: not counted
		for done := int64(3 << 20); done <= total; done += 1 << 20 {
			clock = clock.Add(time.Second)
			p.update(done, total)
		}
		p.finish()
		require.Equal(t, "1.0 MiB/s", lastRate(buf.String()), "5 MiB counted over 5 s")
		res := httpxfer.Result{Path: "d/f", Size: total, Sources: []httpxfer.SourceStats{
			{Source: src, Bytes: 3 << 20, Rate: 2 << 20}, {Source: other, Bytes: 3 << 20, Rate: 1 << 20}}}
		require.NoError(t, reportDownload(&buf, httpxfer.Request{}, res, p.rateOf))
		assert.Contains(t, buf.String(), "  1. 10.0.0.1:6346: 512.0 KiB/s measured, 3.0 MiB received\n"+
			"  2. 10.0.0.2:6346: 512.0 KiB/s measured, 3.0 MiB received\n")
	})
}
