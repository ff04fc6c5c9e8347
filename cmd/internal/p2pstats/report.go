package p2pstats

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ReportFile is the page WriteReport writes in its directory.
const ReportFile = "index.html"

// WriteReport writes the report of one run, or of several side by side
// (compare mode), as dir/index.html, and returns its path.
func WriteReport(dir string, runs ...*Results) (string, error) {
	var b bytes.Buffer
	if err := Render(&b, runs...); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	path := filepath.Join(dir, ReportFile)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}

// Render writes the report page: one self-contained file (inline CSS and
// SVG, no script, nothing fetched) that is also well-formed XML, so a
// test, or a browser in XHTML mode, can parse it strictly.
func Render(w io.Writer, runs ...*Results) error {
	if len(runs) == 0 {
		return errors.New("report: no runs")
	}
	p := page{Runs: runs, Figures: Figures(runs...)}
	var labels []string
	for _, r := range runs {
		labels = append(labels, r.Run.Label)
	}
	p.Title = "govent run: " + strings.Join(labels, " vs ")
	p.Series = seriesPlots(runs)
	p.Distributions = distributionPlots(runs)
	return pageTemplate.Execute(w, p)
}

// CheckPage checks a report page the way a strict reader would: the page
// parses as XML (XHTML: no unclosed tag, bare ampersand or undeclared
// entity) with an html root in the XHTML namespace and nothing after it,
// and each inline SVG parses on its own with an svg root in the SVG
// namespace. Tools that write reports check theirs with it in tests.
func CheckPage(page []byte) error {
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		return errors.New("report: no <!DOCTYPE html>")
	}
	if err := checkXML(page, "http://www.w3.org/1999/xhtml", "html"); err != nil {
		return fmt.Errorf("report: page: %w", err)
	}
	svgs := svgElements.FindAll(page, -1)
	if len(svgs) == 0 {
		return errors.New("report: no plots")
	}
	for i, svg := range svgs {
		if err := checkXML(svg, "http://www.w3.org/2000/svg", "svg"); err != nil {
			return fmt.Errorf("report: plot %d: %w", i+1, err)
		}
	}
	return nil
}

var svgElements = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// checkXML parses doc strictly and checks its one root element.
func checkXML(doc []byte, space, local string) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if t.Name.Space != space || t.Name.Local != local {
					return fmt.Errorf("root element {%s}%s, want {%s}%s", t.Name.Space, t.Name.Local, space, local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("text outside the root element: %.40q", t)
			}
		}
	}
	if roots != 1 {
		return fmt.Errorf("%d root elements, want 1", roots)
	}
	return nil
}

type page struct {
	Title         string
	Runs          []*Results
	Figures       []Figure
	Series        []template.HTML
	Distributions []template.HTML
}

// Figure is one line of the figures table: a key that tests and scripts
// can find (the report's data-figure), a name for people, and a value per
// run as the report shows it.
type Figure struct {
	Key, Name string
	Values    []string
}

// Figures are the figures of runs side by side, as the report's table and
// the tools' text output show them.
func Figures(runs ...*Results) []Figure {
	var rows []Figure
	add := func(key, name string, value func(r *Results) string) {
		rw := Figure{Key: key, Name: name}
		for _, r := range runs {
			rw.Values = append(rw.Values, value(r))
		}
		rows = append(rows, rw)
	}
	count := func(f func(r *Results) int64) func(r *Results) string {
		return func(r *Results) string { return strconv.FormatInt(f(r), 10) }
	}
	add("queries.issued", "queries issued", count(func(r *Results) int64 { return r.Queries.Issued }))
	add("queries.answered", "queries answered (at least one hit)", count(func(r *Results) int64 { return r.Queries.Answered }))
	add("queries.findable", "queries with a matching file online", count(func(r *Results) int64 { return r.Queries.Findable }))
	add("queries.success_rate", "success rate of those", func(r *Results) string { return percent(r.Queries.SuccessRate) })
	add("queries.hits_per_query", "hits per query", func(r *Results) string { return opt(r.Queries.HitsPerQuery) })
	add("descriptors.mean", "descriptors per query", func(r *Results) string { return opt(r.Descriptors.Mean) })
	add("descriptors.per_node", "descriptors per query per node", func(r *Results) string { return opt(r.Descriptors.PerNode) })
	add("descriptors.query", "of which Query", func(r *Results) string { return opt(r.Descriptors.Query) })
	add("descriptors.queryhit", "of which QueryHit", func(r *Results) string { return opt(r.Descriptors.QueryHit) })
	add("descriptors.p95", "descriptors per query, p95", func(r *Results) string { return pct(r.Descriptors.Spread, r.Descriptors.Spread.P95) })
	add("time_to_first_hit.p50", "time to first hit p50 (s)", func(r *Results) string { return pct(r.TimeToFirstHit, r.TimeToFirstHit.P50) })
	add("time_to_first_hit.p95", "time to first hit p95 (s)", func(r *Results) string { return pct(r.TimeToFirstHit, r.TimeToFirstHit.P95) })
	add("time_to_first_hit.p99", "time to first hit p99 (s)", func(r *Results) string { return pct(r.TimeToFirstHit, r.TimeToFirstHit.P99) })
	for _, t := range union(runs, func(r *Results) []string { return typesOf(r.Bandwidth) }) {
		add("bandwidth."+t, "bytes per node per second, "+t, func(r *Results) string {
			for _, b := range r.Bandwidth {
				if b.Type == t {
					return num(b.Rate)
				}
			}
			return "0"
		})
	}
	for _, reason := range union(runs, func(r *Results) []string { return reasonsOf(r.Dropped) }) {
		add("dropped."+reason, "connections dropped, "+reason, countOf(func(r *Results) []Count { return r.Dropped }, reason))
	}
	if workload(runs) {
		add("links.linked", "sessions that linked to the target", count(func(r *Results) int64 { return r.Links.Linked }))
		for _, reason := range union(runs, func(r *Results) []string { return reasonsOf(r.Links.Failed) }) {
			add("links.failed."+reason, "links failed, "+reason, countOf(func(r *Results) []Count { return r.Links.Failed }, reason))
		}
		add("links.queries_unlinked", "queries not issued, no link", count(func(r *Results) int64 { return r.Links.QueriesUnlinked }))
	}
	add("reverse_path.forwarded", "QueryHits forwarded (at each servent)", count(func(r *Results) int64 { return r.ReversePath.Forwarded }))
	add("reverse_path.delivered", "QueryHits delivered to the searcher", count(func(r *Results) int64 { return r.ReversePath.Delivered }))
	add("reverse_path.off_path", "QueryHits off the reverse path", count(func(r *Results) int64 {
		return r.ReversePath.OffPath + r.ReversePath.DeliveredElsewhere
	}))
	add("memory.peak", "memory peak (MiB)", func(r *Results) string { return mib(r.Memory.PeakBytes) })
	add("memory.final", "memory at the end (MiB)", func(r *Results) string { return mib(r.Memory.FinalBytes) })
	add("memory.peak_per_node", "memory peak per node (KiB)", func(r *Results) string {
		if r.Memory.PeakPerNode == nil {
			return "n/a"
		}
		return num(*r.Memory.PeakPerNode / 1024)
	})
	add("memory.max_rss", "process peak RSS (MiB)", func(r *Results) string {
		if r.Memory.MaxRSSBytes == 0 {
			return "n/a"
		}
		return mib(r.Memory.MaxRSSBytes)
	})
	add("run.real_s", "real time (s)", func(r *Results) string { return num(r.Run.RealS) })
	return rows
}

func typesOf(b []TypeRate) []string {
	var t []string
	for _, x := range b {
		t = append(t, x.Type)
	}
	return t
}

// countOf is a figure: a run's count for reason in list, 0 when absent.
func countOf(list func(*Results) []Count, reason string) func(*Results) string {
	return func(r *Results) string {
		for _, d := range list(r) {
			if d.Reason == reason {
				return strconv.FormatInt(d.N, 10)
			}
		}
		return "0"
	}
}

// workload: the runs are govent workload's, against a target.
func workload(runs []*Results) bool { return len(runs) > 0 && runs[0].Run.Target != "" }

func reasonsOf(d []Count) []string {
	var t []string
	for _, x := range d {
		t = append(t, x.Reason)
	}
	return t
}

// union keeps the first run's order and appends what later runs add.
func union(runs []*Results, keys func(*Results) []string) []string {
	var out []string
	for _, r := range runs {
		for _, k := range keys(r) {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func opt(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return num(*v)
}

func percent(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(100**v, 'f', 1, 64) + "%"
}

func pct(p Percentiles, v float64) string {
	if p.N == 0 {
		return "n/a"
	}
	return num(v)
}

func mib(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) }

// perNodeSecond turns an interval's count into a rate per node and second.
func perNodeSecond(r *Results, v float64) float64 {
	if r.Run.Nodes == 0 || r.Run.IntervalS == 0 {
		return 0
	}
	return v / float64(r.Run.Nodes) / r.Run.IntervalS
}

func seriesLine(r *Results, name string, y func(s *Sample) float64) Line {
	l := Line{Name: name}
	for i := range r.Series {
		l.X = append(l.X, r.Series[i].T)
		l.Y = append(l.Y, y(&r.Series[i]))
	}
	return l
}

func seriesPlots(runs []*Results) []template.HTML {
	var out []template.HTML
	overlay := func(id, title, ylabel string, lines func(r *Results) []Line) {
		c := &Chart{ID: id, Title: title, XLabel: "time (s)", YLabel: ylabel}
		for _, r := range runs {
			c.Lines = append(c.Lines, lines(r)...)
		}
		out = append(out, template.HTML(c.SVG()))
	}
	overlay("plot-queries", "Queries per interval", "queries", func(r *Results) []Line {
		return []Line{
			seriesLine(r, r.Run.Label+" issued", func(s *Sample) float64 { return float64(s.QueriesIssued) }),
			seriesLine(r, r.Run.Label+" answered", func(s *Sample) float64 { return float64(s.QueriesAnswered) }),
		}
	})
	overlay("plot-online", "Servents online", "servents", func(r *Results) []Line {
		return []Line{seriesLine(r, r.Run.Label, func(s *Sample) float64 { return float64(s.Online) })}
	})
	overlay("plot-descriptors", "Descriptors sent per node per second", "descriptors/node/s", func(r *Results) []Line {
		return []Line{seriesLine(r, r.Run.Label, func(s *Sample) float64 { return perNodeSecond(r, float64(s.Descriptors)) })}
	})
	for i, r := range runs {
		c := &Chart{ID: fmt.Sprintf("plot-bytes-%d", i), Title: "Bytes per node per second by message type, " + r.Run.Label,
			XLabel: "time (s)", YLabel: "bytes/node/s"}
		for _, t := range typesOf(r.Bandwidth) {
			c.Lines = append(c.Lines, seriesLine(r, t, func(s *Sample) float64 { return perNodeSecond(r, float64(s.Bytes[t])) }))
		}
		out = append(out, template.HTML(c.SVG()))
	}
	overlay("plot-dropped", "Connections dropped per interval", "connections", func(r *Results) []Line {
		return []Line{seriesLine(r, r.Run.Label, func(s *Sample) float64 { return float64(s.Dropped) })}
	})
	overlay("plot-heap", "Heap in use (largest sample per interval)", "MiB", func(r *Results) []Line {
		return []Line{seriesLine(r, r.Run.Label, func(s *Sample) float64 { return float64(s.HeapBytes) / (1 << 20) })}
	})
	return out
}

// cdfLine is the empirical CDF of sorted values: point i at (v_i, (i+1)/n).
func cdfLine(name string, sorted []float64) Line {
	l := Line{Name: name, X: sorted, Y: make([]float64, len(sorted))}
	for i := range sorted {
		l.Y[i] = float64(i+1) / float64(len(sorted))
	}
	return l
}

// hitBins are the histogram bins of hits per query: single counts where
// most queries fall, then wider bins for the long tail.
var hitBins = []struct {
	label  string
	lo, hi float64 // [lo, hi)
}{
	{"0", 0, 1}, {"1", 1, 2}, {"2", 2, 3}, {"3-4", 3, 5}, {"5-9", 5, 10},
	{"10-19", 10, 20}, {"20-49", 20, 50}, {"50-99", 50, 100}, {"100+", 100, 1e308},
}

// hitShares is the share of queries in each bin of hitBins.
func hitShares(hits []float64) []float64 {
	shares := make([]float64, len(hitBins))
	for _, h := range hits {
		for i, b := range hitBins {
			if h >= b.lo && h < b.hi {
				shares[i]++
				break
			}
		}
	}
	for i := range shares {
		if len(hits) > 0 {
			shares[i] /= float64(len(hits))
		}
	}
	return shares
}

func distributionPlots(runs []*Results) []template.HTML {
	ttfh := &Chart{ID: "cdf-time-to-first-hit", Title: "Time to first hit, CDF", XLabel: "seconds", YLabel: "share of answered queries"}
	descs := &Chart{ID: "cdf-descriptors", Title: "Descriptors per query, CDF", XLabel: "descriptors", YLabel: "share of queries"}
	hits := &BarChart{ID: "hist-hits", Title: "Hits per query", XLabel: "hits", YLabel: "share of queries"}
	for _, b := range hitBins {
		hits.Categories = append(hits.Categories, b.label)
	}
	for _, r := range runs {
		ttfh.Lines = append(ttfh.Lines, cdfLine(r.Run.Label, r.Distributions.TimeToFirstHitS))
		descs.Lines = append(descs.Lines, cdfLine(r.Run.Label, r.Distributions.DescriptorsPerQuery))
		hits.Groups = append(hits.Groups, BarGroup{Name: r.Run.Label, Values: hitShares(r.Distributions.HitsPerQuery)})
	}
	return []template.HTML{template.HTML(ttfh.SVG()), template.HTML(descs.SVG()), template.HTML(hits.SVG())}
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1em 0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table id="runs">
<tr><th>run</th><th>nodes</th><th>duration (s)</th><th>interval (s)</th><th>clock</th><th>seed</th><th>churn model</th><th>workload model</th><th>topology</th><th>target</th></tr>
{{range .Runs}}<tr><td>{{.Run.Label}}</td><td>{{.Run.Nodes}}</td><td>{{.Run.DurationS}}</td><td>{{.Run.IntervalS}}</td><td>{{.Run.Clock}}</td><td>{{.Run.Seed}}</td><td>{{.Run.Churn}}</td><td>{{.Run.Workload}}</td><td>{{.Run.Topology}}</td><td>{{.Run.Target}}</td></tr>
{{end}}</table>
<h2>Figures</h2>
<table id="figures">
<tr><th>figure</th>{{range .Runs}}<th>{{.Run.Label}}</th>{{end}}</tr>
{{range .Figures}}<tr data-figure="{{.Key}}"><td>{{.Name}}</td>{{range $i, $v := .Values}}<td data-run="{{$i}}">{{$v}}</td>{{end}}</tr>
{{end}}</table>
<h2>Over time</h2>
{{range .Series}}<figure>
{{.}}</figure>
{{end}}<h2>Distributions</h2>
{{range .Distributions}}<figure>
{{.}}</figure>
{{end}}</body>
</html>
`))
