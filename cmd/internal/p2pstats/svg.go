package p2pstats

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The plots are drawn here rather than with a plotting library: three
// kinds (lines, CDFs, grouped bars) in plain SVG are a few hundred lines,
// while gonum/plot would bring gonum, fonts and image packages for the
// same pictures and make its output harder to check point by point.

// Line is one polyline of a chart.
type Line struct {
	Name string
	X, Y []float64
}

// Chart is a line chart; a CDF is a chart whose lines rise to 1.
type Chart struct {
	ID, Title, XLabel, YLabel string
	Lines                     []Line
}

// BarGroup is one series of a bar chart: a value per category.
type BarGroup struct {
	Name   string
	Values []float64
}

// BarChart draws each category's values side by side, one bar per group.
type BarChart struct {
	ID, Title, XLabel, YLabel string
	Categories                []string
	Groups                    []BarGroup
}

const (
	plotW, plotH                     = 820, 300
	marginL, marginR, marginT, marHB = 72, 170, 34, 46 // the legend sits in the right margin
	// maxPoints bounds a polyline; longer lines are thinned to evenly
	// spaced points, first and last kept, so a page stays small.
	maxPoints = 2000
)

// palette is one color per series, distinct in print and for the common
// forms of color blindness (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

func color(i int) string { return palette[i%len(palette)] }

// frame maps data to the plot area.
type frame struct {
	x0, x1, y0, y1 float64
}

func (f frame) px(x float64) float64 {
	return marginL + (x-f.x0)/(f.x1-f.x0)*(plotW-marginL-marginR)
}
func (f frame) py(y float64) float64 {
	return plotH - marHB - (y-f.y0)/(f.y1-f.y0)*(plotH-marginT-marHB)
}

// SVG renders the chart as a standalone <svg> element.
func (c *Chart) SVG() string {
	f := frame{x0: math.Inf(1), x1: math.Inf(-1), y0: 0, y1: math.Inf(-1)}
	for _, l := range c.Lines {
		for i := range min(len(l.X), len(l.Y)) {
			f.x0, f.x1 = min(f.x0, l.X[i]), max(f.x1, l.X[i])
			f.y0, f.y1 = min(f.y0, l.Y[i]), max(f.y1, l.Y[i])
		}
	}
	f = f.widen()
	var b strings.Builder
	open(&b, c.ID, c.Title)
	axes(&b, f, c.XLabel, c.YLabel, ticks(f.x0, f.x1))
	for i, l := range c.Lines {
		fmt.Fprintf(&b, `<polyline data-series="%s" fill="none" stroke="%s" stroke-width="1.5" points="`, esc(l.Name), color(i))
		for j, k := range thin(min(len(l.X), len(l.Y))) {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(coord(f.px(l.X[k])) + "," + coord(f.py(l.Y[k])))
		}
		b.WriteString(`"/>` + "\n")
	}
	legend(&b, lineNames(c.Lines))
	b.WriteString("</svg>\n")
	return b.String()
}

// SVG renders the bar chart as a standalone <svg> element.
func (c *BarChart) SVG() string {
	f := frame{x0: 0, x1: float64(max(len(c.Categories), 1)), y0: 0, y1: 0}
	for _, g := range c.Groups {
		for _, v := range g.Values {
			f.y1 = max(f.y1, v*1.05) // headroom above the tallest bar
		}
	}
	f = f.widen()
	var b strings.Builder
	open(&b, c.ID, c.Title)
	var xt []tick
	for i, cat := range c.Categories {
		xt = append(xt, tick{float64(i) + 0.5, cat})
	}
	axes(&b, f, c.XLabel, c.YLabel, xt)
	slot := (f.px(1) - f.px(0)) * 0.8 / float64(max(len(c.Groups), 1))
	for gi, g := range c.Groups {
		for i, v := range g.Values {
			x := f.px(float64(i)) + (f.px(1)-f.px(0))*0.1 + slot*float64(gi)
			y := f.py(v)
			fmt.Fprintf(&b, `<rect data-series="%s" data-category="%s" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
				esc(g.Name), esc(c.Categories[i]), strconv.FormatFloat(v, 'g', -1, 64),
				coord(x), coord(y), coord(slot), coord(f.py(0)-y), color(gi))
		}
	}
	var names []string
	for _, g := range c.Groups {
		names = append(names, g.Name)
	}
	legend(&b, names)
	b.WriteString("</svg>\n")
	return b.String()
}

// widen makes an empty or flat range drawable.
func (f frame) widen() frame {
	if math.IsInf(f.x0, 0) || math.IsInf(f.x1, 0) {
		f.x0, f.x1 = 0, 1
	}
	if math.IsInf(f.y1, 0) {
		f.y1 = 1
	}
	if f.x1 <= f.x0 {
		f.x0, f.x1 = f.x0-1, f.x0+1
	}
	if f.y1 <= f.y0 {
		f.y1 = f.y0 + 1
	}
	return f
}

func open(b *strings.Builder, id, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		esc(id), plotW, plotH, plotW, plotH)
	fmt.Fprintf(b, `<title>%s</title>`+"\n", esc(title))
	fmt.Fprintf(b, `<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, esc(title))
}

type tick struct {
	v     float64
	label string
}

func axes(b *strings.Builder, f frame, xlabel, ylabel string, xticks []tick) {
	left, right := f.px(f.x0), f.px(f.x1)
	top, bottom := f.py(f.y1), f.py(f.y0)
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#999"/>`+"\n",
		coord(left), coord(top), coord(right-left), coord(bottom-top))
	for _, t := range ticks(f.y0, f.y1) {
		y := coord(f.py(t.v))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`, coord(left), y, coord(right), y)
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", coord(left-4), y, esc(t.label))
	}
	for _, t := range xticks {
		x := coord(f.px(t.v))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#999"/>`, x, coord(bottom), x, coord(bottom+4))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", x, coord(bottom+16), esc(t.label))
	}
	fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", coord((left+right)/2), plotH-8, esc(xlabel))
	fmt.Fprintf(b, `<text transform="translate(14 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", coord((top+bottom)/2), esc(ylabel))
}

func legend(b *strings.Builder, names []string) {
	for i, n := range names {
		x, y := plotW-marginR+12, marginT+14*i
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, y, color(i), x+14, y+9, esc(n))
	}
}

func lineNames(ls []Line) []string {
	var n []string
	for _, l := range ls {
		n = append(n, l.Name)
	}
	return n
}

// ticks are about five round values (1, 2 or 5 times a power of ten)
// covering [lo, hi].
func ticks(lo, hi float64) []tick {
	raw := (hi - lo) / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p
	for _, m := range []float64{2, 5, 10} {
		if step < raw {
			step = p * m
		}
	}
	var out []tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, tick{v, short(v)})
	}
	return out
}

// thin picks at most maxPoints indexes of n, evenly spaced, first and last
// included.
func thin(n int) []int {
	idx := make([]int, 0, min(n, maxPoints))
	if n <= maxPoints {
		for i := range n {
			idx = append(idx, i)
		}
		return idx
	}
	for j := range maxPoints {
		idx = append(idx, j*(n-1)/(maxPoints-1))
	}
	return idx
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// short formats a number in at most four significant digits, with k, M
// and G for large ones.
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a Builder cannot fail
	return b.String()
}
