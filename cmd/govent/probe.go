package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/govent/govent/servent"
	"github.com/govent/govent/servent/linkzip"
	"github.com/govent/govent/wire"
)

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "check another servent's conformance: handshake, Ping/Pong, Query/QueryHit, Bye",
		ArgsUsage: "HOST:PORT",
		Description: "Connects once with the 0.6 handshake (as an ultrapeer, or --leaf), checks the headers\n" +
			"deployed servents rely on, sends a TTL-1 Ping and a Query for --query, checks that every\n" +
			"descriptor that comes back parses and that the replies reuse our GUIDs, then says Bye.\n" +
			"Prints PASS, WARN or FAIL per check and exits 1 if any check failed. It sends nothing\n" +
			"malformed: use it on servents you run or may test.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "query", Value: "test", Usage: "keywords to search for"},
			&cli.BoolFlag{Name: "leaf", Usage: "connect as a leaf (X-Ultrapeer: False)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to wait for each answer"},
		},
		Action: func(_ context.Context, c *cli.Command) error {
			if err := wantArgs(c, 1, "HOST:PORT argument"); err != nil {
				return err
			}
			if why := hostPortProblem(c.Args().First()); why != "" {
				return usageError(fmt.Errorf("%s: %s", c.Args().First(), why))
			}
			p := &prober{w: c.Root().Writer, timeout: c.Duration("timeout")}
			p.run(c.Args().First(), c.String("query"), c.Bool("leaf"))
			if p.failed > 0 {
				return fmt.Errorf("probe: %d of %d checks failed", p.failed, p.checks)
			}
			return nil
		},
	}
}

type prober struct {
	w       io.Writer
	timeout time.Duration
	checks  int
	failed  int
}

func (p *prober) report(level, format string, args ...any) {
	p.checks++
	if level == "FAIL" {
		p.failed++
	}
	fmt.Fprintf(p.w, "%-4s  %s\n", level, fmt.Sprintf(format, args...))
}

func (p *prober) check(ok bool, format string, args ...any) bool {
	if ok {
		p.report("PASS", format, args...)
	} else {
		p.report("FAIL", format, args...)
	}
	return ok
}

func (p *prober) warn(ok bool, format string, args ...any) {
	if ok {
		p.report("PASS", format, args...)
	} else {
		p.report("WARN", format, args...)
	}
}

func (p *prober) run(addr, query string, leaf bool) {
	nc, err := net.DialTimeout("tcp", addr, p.timeout)
	if !p.check(err == nil, "TCP connect to %s", addr) {
		fmt.Fprintf(p.w, "      %v\n", err)
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(p.timeout))
	br := bufio.NewReader(nc)

	hello := &wire.Handshake{StartLine: wire.ConnectLine06}
	hello.Add("User-Agent", servent.UserAgent+" (probe)")
	hello.Add("X-Ultrapeer", strconv.FormatBool(!leaf))
	hello.Add("X-Query-Routing", "0.2")
	hello.Add("Bye-Packet", "0.1")
	hello.Add("GGEP", "0.5")
	hello.Add("Pong-Caching", "0.1")
	hello.Add("Vendor-Message", "0.2")
	hello.Add("Accept-Encoding", "deflate")
	if !leaf {
		hello.Add("X-Ultrapeer-Query-Routing", "0.1")
		hello.Add("X-Degree", "32")
		hello.Add("X-Dynamic-Querying", "0.1")
		hello.Add("X-Max-TTL", "4")
	}
	_, err = nc.Write(hello.Append(nil))
	if !p.check(err == nil, "send CONNECT") {
		return
	}
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{})
	if !p.check(err == nil, "read the answer block within %s and the 128-line / 16 KiB limits", p.timeout) {
		fmt.Fprintf(p.w, "      %v\n", err)
		return
	}
	proto, code, reason, err := ans.ParseStatus()
	p.check(err == nil && proto == wire.HandshakeProto06, "status line is GNUTELLA/0.6: %q", ans.StartLine)
	if code != 200 {
		p.report("FAIL", "handshake answered %d %s", code, reason)
		if v, ok := ans.Get("X-Try-Ultrapeers"); ok {
			fmt.Fprintf(p.w, "      X-Try-Ultrapeers: %s\n", v)
		}
		return
	}
	p.report("PASS", "handshake answered 200")
	ua, hasUA := ans.Get("User-Agent")
	p.warn(hasUA, "User-Agent present: %q", ua)
	up, _ := ans.Get("X-Ultrapeer")
	isUP := strings.EqualFold(strings.TrimSpace(up), "true")
	p.warn(up != "", "X-Ultrapeer present: %q", up)
	if leaf && isUP {
		deg, _ := ans.Get("X-Degree")
		n, _ := strconv.Atoi(strings.TrimSpace(deg))
		p.warn(n >= 16, "X-Degree >= 16, as gtk-gnutella leaves require: %q", deg)
		dq, _ := ans.Get("X-Dynamic-Querying")
		p.warn(dq != "", "X-Dynamic-Querying present: %q", dq)
	}
	if g, ok := ans.Get("GUID"); ok {
		_, err := wire.ParseGUID(strings.TrimSpace(g))
		p.check(err == nil, "GUID header is 32 hex digits: %q", g)
	}
	theyCompress := ans.HasToken("Content-Encoding", "deflate")
	final := &wire.Handshake{StartLine: wire.StatusLine06(200, "OK")}
	if _, err := nc.Write(final.Append(nil)); !p.check(err == nil, "send the final 200") {
		return
	}

	var in io.Reader = br
	if theyCompress {
		p.report("PASS", "peer compresses its stream (Content-Encoding: deflate)")
		in = linkzip.NewReader(br, linkzip.ReaderConfig{})
	}
	r := wire.NewReader(in, wire.DefaultMaxPayload)

	ping := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypePing, TTL: 1}}
	q := wire.Query{Criteria: []byte(query)}
	q.SetFlags(wire.QueryFlagGGEPH)
	qm := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQuery, TTL: 1}, Query: q}
	var out []byte
	for _, m := range []*wire.Message{&ping, &qm} {
		out, _ = m.Append(out)
	}
	if _, err := nc.Write(out); !p.check(err == nil, "send a TTL-1 Ping and a Query for %q", query) {
		return
	}

	var pongs, hits, results, other, malformed int
	badReply := 0
	deadline := time.Now().Add(p.timeout)
	_ = nc.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				p.report("FAIL", "descriptor stream: %v", err)
			}
			break
		}
		if err != nil {
			malformed++
			fmt.Fprintf(p.w, "      malformed %s: %v\n", m.Header.Type, err)
			continue
		}
		switch m.Header.Type {
		case wire.TypePong:
			if m.Header.GUID == ping.Header.GUID {
				pongs++
			} else {
				badReply++
			}
		case wire.TypeQueryHit:
			if m.Header.GUID == qm.Header.GUID {
				hits++
				results += len(m.QueryHit.Results)
			} else {
				badReply++
			}
		case wire.TypeBye:
			p.report("WARN", "peer said Bye %d %q", m.Bye.Code, m.Bye.Reason())
			deadline = time.Now()
		default:
			other++
		}
		if pongs > 0 && hits > 0 {
			// Give stragglers a moment, then stop.
			if d := time.Now().Add(200 * time.Millisecond); d.Before(deadline) {
				deadline = d
				_ = nc.SetReadDeadline(deadline)
			}
		}
	}
	p.check(malformed == 0, "every descriptor parsed (%d malformed)", malformed)
	p.check(pongs > 0, "a Pong answered our Ping with its GUID (%d)", pongs)
	p.check(badReply == 0, "no reply carried a GUID we did not send (%d did)", badReply)
	p.warn(hits > 0, "QueryHits for %q: %d with %d results (none is fine if nothing matches)", query, hits, results)
	fmt.Fprintf(p.w, "INFO  %d other descriptors (vendor, QRP, Pings...)\n", other)

	bye := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeBye, TTL: 1},
		Bye: wire.NewBye(200, "Probe done", "Server: "+servent.UserAgent)}
	b, _ := bye.Append(nil)
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = nc.Write(b)
	p.check(err == nil, "send Bye 200")
}
