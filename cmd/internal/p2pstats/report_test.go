package p2pstats

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// node is a parsed XML element, enough to walk a page.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) walk(f func(*node)) {
	f(n)
	for i := range n.Children {
		n.Children[i].walk(f)
	}
}

// parseStrict parses a document as XML, refusing what a strict XML parser
// refuses (unclosed tags, bare ampersands, undeclared entities).
func parseStrict(t *testing.T, doc []byte) *node {
	t.Helper()
	var n node
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	require.NoError(t, d.Decode(&n))
	// Nothing after the root element but white space.
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if cd, ok := tok.(xml.CharData); ok {
			require.Empty(t, strings.TrimSpace(string(cd)))
		}
	}
	return &n
}

// svgs are the page's inline <svg> elements, each as its own text.
var svgRE = svgElements

func render(t *testing.T, runs ...*Results) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Render(&b, runs...))
	return b.Bytes()
}

func compareRuns(t *testing.T) (*Results, *Results) {
	a := scripted(t)
	c, err := NewCollector(Run{Label: "qrp+dq", Nodes: 4, Clock: "virtual"}, 10*time.Second, 5*time.Second)
	require.NoError(t, err)
	c.QueryIssued(guid(1), time.Second, true)
	c.Sent(time.Second, Query, 100, guid(1))
	c.HitReceived(guid(1), 2*time.Second, 120) // the 100+ bin
	c.Sent(time.Second, QRP, 900, GUID{})
	c.Dropped(3*time.Second, "timeout")
	from := netip.MustParseAddrPort("127.0.0.1:6346")
	c.QueryArrived(1, guid(1), from)
	c.HitForwarded(1, guid(1), from)
	c.HitForwarded(1, guid(1), netip.MustParseAddrPort("127.0.0.9:6346"))
	c.HitDelivered(0, guid(1))
	b := c.Results()
	b.Run.RealS = 12.5
	b.Memory.MaxRSSBytes = 3 << 20
	return a, b
}

func TestReportIsWellFormedAndSelfContained(t *testing.T) {
	a, b := compareRuns(t)
	page := render(t, a, b)
	root := parseStrict(t, page)
	assert.Equal(t, "html", root.XMLName.Local)
	assert.Equal(t, "http://www.w3.org/1999/xhtml", root.XMLName.Space)
	assert.True(t, bytes.HasPrefix(page, []byte("<!DOCTYPE html>")))
	for _, bad := range []string{"<script", "<link", "<img", "src=", "href=", "http://", "https://", "@import", "url("} {
		s := strings.ReplaceAll(string(page), `xmlns="http://www.w3.org/1999/xhtml"`, "")
		s = strings.ReplaceAll(s, `xmlns="http://www.w3.org/2000/svg"`, "")
		assert.NotContains(t, s, bad, "the page must need nothing from elsewhere")
	}
	require.NoError(t, CheckPage(page))
	svgs := svgRE.FindAll(page, -1)
	assert.Equal(t, 3+2+2+3, len(svgs), "queries, online, descriptors, bytes x2, dropped, heap, 3 distributions")
	for _, s := range svgs {
		n := parseStrict(t, s)
		assert.Equal(t, "svg", n.XMLName.Local)
		assert.Equal(t, "http://www.w3.org/2000/svg", n.XMLName.Space)
	}
}

// byID finds the svg of a plot.
func byID(t *testing.T, root *node, id string) *node {
	t.Helper()
	var found *node
	root.walk(func(n *node) {
		if n.XMLName.Local == "svg" && n.attr("id") == id {
			found = n
		}
	})
	require.NotNil(t, found, "plot %s", id)
	return found
}

func polylines(n *node) map[string]int {
	points := map[string]int{}
	n.walk(func(c *node) {
		if c.XMLName.Local == "polyline" {
			points[c.attr("data-series")] = len(strings.Fields(c.attr("points")))
		}
	})
	return points
}

func TestReportPlotsHoldTheData(t *testing.T) {
	a, b := compareRuns(t)
	root := parseStrict(t, render(t, a, b))

	// One point per interval on every time series, for both runs.
	assert.Equal(t, map[string]int{"flood issued": 2, "flood answered": 2, "qrp+dq issued": 2, "qrp+dq answered": 2},
		polylines(byID(t, root, "plot-queries")))
	assert.Equal(t, map[string]int{"flood": 2, "qrp+dq": 2}, polylines(byID(t, root, "plot-heap")))
	assert.Equal(t, map[string]int{"ping": 2, "pong": 2, "query": 2, "queryhit": 2, "x-unknown": 2},
		polylines(byID(t, root, "plot-bytes-0")))
	assert.Equal(t, map[string]int{"query": 2, "qrp": 2}, polylines(byID(t, root, "plot-bytes-1")))
	// One point per value on a CDF.
	assert.Equal(t, map[string]int{"flood": 2, "qrp+dq": 1}, polylines(byID(t, root, "cdf-time-to-first-hit")))
	assert.Equal(t, map[string]int{"flood": 3, "qrp+dq": 1}, polylines(byID(t, root, "cdf-descriptors")))

	// One bar per bin and run, its value the share of queries in the bin.
	bars := map[string]string{}
	byID(t, root, "hist-hits").walk(func(c *node) {
		if c.XMLName.Local == "rect" && c.attr("data-series") != "" {
			bars[c.attr("data-series")+" "+c.attr("data-category")] = c.attr("data-value")
		}
	})
	assert.Len(t, bars, 2*len(hitBins))
	// flood: hits 0, 1, 5 over 3 queries; qrp+dq: one query with 120.
	assert.Equal(t, "0.3333333333333333", bars["flood 0"])
	assert.Equal(t, "0.3333333333333333", bars["flood 1"])
	assert.Equal(t, "0.3333333333333333", bars["flood 5-9"])
	assert.Equal(t, "0", bars["flood 2"])
	assert.Equal(t, "1", bars["qrp+dq 100+"])
	assert.Equal(t, "0", bars["qrp+dq 0"])
}

func TestReportFiguresMatchTheResults(t *testing.T) {
	a, b := compareRuns(t)
	root := parseStrict(t, render(t, a, b))
	cells := map[string][]string{}
	root.walk(func(n *node) {
		if key := n.attr("data-figure"); key != "" {
			for _, td := range n.Children {
				if td.attr("data-run") != "" {
					cells[key] = append(cells[key], td.Text)
				}
			}
		}
	})
	want := map[string][]string{
		"queries.issued":         {"3", "1"},
		"queries.answered":       {"2", "1"},
		"queries.findable":       {"2", "1"},
		"queries.success_rate":   {"50.0%", "100.0%"},
		"queries.hits_per_query": {"2", "120"},
		"descriptors.mean":       {"3.333", "1"},
		"descriptors.per_node":   {"0.8333", "0.25"},
		"descriptors.query":      {"1.667", "1"},
		"descriptors.queryhit":   {"1.667", "0"},
		"descriptors.p95":        {"7", "1"},
		"time_to_first_hit.p50":  {"0.5", "1"},
		"time_to_first_hit.p95":  {"3", "1"},
		"time_to_first_hit.p99":  {"3", "1"},
		"bandwidth.ping":         {"0.575", "0"},
		"bandwidth.pong":         {"0.925", "0"},
		"bandwidth.query":        {"12.5", "2.5"},
		"bandwidth.queryhit":     {"30", "0"},
		"bandwidth.x-unknown":    {"1", "0"},
		"bandwidth.qrp":          {"0", "22.5"},
		"dropped.bye 502":        {"1", "0"},
		"dropped.churn":          {"2", "0"},
		"dropped.timeout":        {"0", "1"},
		"memory.peak":            {"0.0", "0.0"},
		"memory.final":           {"0.0", "0.0"},
		"memory.peak_per_node":   {"0.9766", "n/a"},
		"memory.max_rss":         {"n/a", "3.0"},
		"reverse_path.forwarded": {"0", "2"},
		"reverse_path.delivered": {"0", "1"},
		"reverse_path.off_path":  {"0", "1"},
		"run.real_s":             {"0", "12.5"},
	}
	assert.Equal(t, want, cells)
}

func TestReportThinsLongLines(t *testing.T) {
	values := make([]float64, 10000)
	for i := range values {
		values[i] = float64(i)
	}
	r := &Results{Run: Run{Label: "big", Nodes: 1, IntervalS: 1}, Distributions: Distributions{DescriptorsPerQuery: values}}
	root := parseStrict(t, render(t, r))
	assert.Equal(t, map[string]int{"big": maxPoints}, polylines(byID(t, root, "cdf-descriptors")))
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, thin(6))
	assert.Equal(t, 9999, thin(10000)[maxPoints-1], "the last point is kept")
}

func TestReportEscapesLabels(t *testing.T) {
	r := scripted(t)
	r.Run.Label = `<b>&"x"</b>`
	r.Bandwidth = append(r.Bandwidth, TypeRate{Type: "a<b", Rate: 1})
	page := render(t, r)
	parseStrict(t, page)
	for _, s := range svgRE.FindAll(page, -1) {
		parseStrict(t, s)
	}
	assert.NotContains(t, string(page), "<b>")
}

func TestWriteReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	path, err := WriteReport(dir, scripted(t))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, ReportFile), path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	parseStrict(t, b)
	_, err = WriteReport(dir)
	assert.Error(t, err, "no runs")
}

func TestCheckPageRefusesBrokenPages(t *testing.T) {
	good := string(render(t, scripted(t)))
	require.NoError(t, CheckPage([]byte(good)))
	broken := map[string]string{
		"no doctype":         strings.TrimPrefix(good, "<!DOCTYPE html>"),
		"an unclosed tag":    strings.Replace(good, "</table>", "", 1),
		"a bare ampersand":   strings.Replace(good, "<h2>Figures</h2>", "<h2>Figures & more</h2>", 1),
		"an unknown entity":  strings.Replace(good, "<h2>Figures</h2>", "<h2>&nbsp;</h2>", 1),
		"text after the end": good + "trailing",
		"a broken plot":      strings.Replace(good, "</svg>", "<g></svg>", 1),
		"a plot outside SVG": strings.Replace(good, `xmlns="http://www.w3.org/2000/svg"`, "", 1),
		"no plots":           svgRE.ReplaceAllString(good, ""),
		"another root":       strings.Replace(good, `<html xmlns="http://www.w3.org/1999/xhtml"`, "<page", 1),
	}
	for name, page := range broken {
		assert.Error(t, CheckPage([]byte(page)), name)
	}
}
