package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/govent/govent/cmd/internal/english"
	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/servent"
	"github.com/govent/govent/wire"
)

// printOpts says how search prints results.
type printOpts struct {
	json      bool   // JSON lines
	magnet    bool   // a magnet link per result
	limitFlag string // the flag that set the limit, to say why we stopped
}

// searchEnd is the last line of search --json, with or without results:
// how many arrived and why the search stopped (max_results, timeout,
// interrupted; through a daemon also idle, as its stream says).
type searchEnd struct {
	Results int    `json:"results"`
	Reason  string `json:"reason"`
}

// formatResult is one result line: the responding servent by its address
// (its GUID is in --json), and the links the hit travelled.
func formatResult(n int, r servent.Result) string {
	urn := "(no urn)"
	if r.HasSHA1 {
		urn = r.SHA1.String()
	}
	from := r.Addr.String()
	if !r.Addr.IsValid() || r.Addr.Port() == 0 {
		from = "servent " + r.ServentGUID.String() // dial-only: no address to give
	}
	about := hopsText(r.Hops)
	if r.OOB {
		// Over UDP from the responder itself: how far it is, nobody says.
		about = "out of band"
	}
	if r.Vendor != "" {
		about = r.Vendor + ", " + about
	}
	line := fmt.Sprintf("%3d. %s  %s  from %s (%s)  %s", n, r.Name, humanBytes(int64(r.Size)), from, about, urn)
	if r.Push {
		line += " [push]"
	}
	if r.Busy {
		line += " [busy]"
	}
	return line
}

func hopsText(hops uint8) string {
	return english.Count(int(hops), "hop", "hops")
}

// reportDownload says where the file is, what proved it (what req asked
// for and res did), and which sources were dropped on the way, and why.
// (When a download fails, its error lists them.)
func reportDownload(w io.Writer, req httpxfer.Request, res httpxfer.Result, rateOf func(bytes int64) float64) error {
	for _, f := range res.Dropped {
		fmt.Fprintf(w, "dropped source %s\n", f)
	}
	verified := "not verified (no urn:sha1)"
	switch {
	case res.SHA1 != (wire.SHA1{}):
		verified = "SHA-1 verified " + res.SHA1.String()
		if res.TreeVerified {
			verified += ", every chunk checked against its Tiger tree"
		}
	case res.TreeVerified && req.RootNamed:
		verified = "every chunk checked against its Tiger tree " + req.TTH.String() + ", named by the link; SHA-1 not computed"
	case res.TreeVerified:
		verified = "every chunk checked against its Tiger tree " + req.TTH.String() + "; no urn:sha1"
	}
	saved := "saved"
	if res.AlreadyComplete {
		// The file was there: its sources were asked only for its size.
		saved = "already complete, not downloaded again:"
	} else {
		reportSources(w, res.Sources, rateOf)
	}
	_, err := fmt.Fprintf(w, "%s %s (%s, %s)\n", saved, res.Path, humanBytes(res.Size), verified)
	return err
}

// reportSources prints the download's sources in the order it ranked
// them at its end (httpxfer.SourceStats), with what the rank rests on;
// a rate is rateOf the source's bytes, the progress lines' own measure.
func reportSources(w io.Writer, srcs []httpxfer.SourceStats, rateOf func(bytes int64) float64) {
	if len(srcs) == 0 {
		return
	}
	fmt.Fprintln(w, "sources, best first (free slot before queue place, measured throughput else advertised speed, direct before Push):")
	for i, st := range srcs {
		var what []string
		switch {
		case st.Bytes > 0:
			what = append(what, humanBytes(int64(rateOf(st.Bytes)))+"/s measured")
		case st.Source.Speed > 0:
			what = append(what, fmt.Sprintf("%d kbit/s advertised", st.Source.Speed))
		default:
			what = append(what, "not measured")
		}
		what = append(what, humanBytes(st.Bytes)+" received")
		if q := st.Queue; q.Position > 0 {
			what = append(what, fmt.Sprintf("queued at %d of %d", q.Position, q.Length))
		}
		if st.Source.Push {
			what = append(what, "through a Push")
		}
		if st.Dropped {
			what = append(what, "dropped")
		}
		fmt.Fprintf(w, "  %d. %s: %s\n", i+1, st.Source, strings.Join(what, ", "))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
