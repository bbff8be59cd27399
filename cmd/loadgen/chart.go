package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The chart of a run's rows (issue 31, item 4): two horizontal bar charts
// side by side, req/s and CPU per request, one bar per row. Plain SVG
// written with fmt, so it needs nothing beyond the standard library.

// chartBar is one row of a run.
type chartBar struct {
	Label string
	// Rate is req/s, CPU the CPU time per request in µs; NaN, an infinity
	// or a negative value is missing (drawn as an empty bar marked n/a).
	Rate, CPU float64
	Color     string
}

// chart is what writeChart draws.
type chart struct {
	Title    string // names the run: mode, date, duration
	Subtitle string
	Bars     []chartBar
}

// Colours of the servers' bars.
const (
	colorUsersvc  = "#2f6db5"
	colorBaseline = "#8c8c8c"
	colorAmundsen = "#d9822b"
)

// Layout, in pixels.
const (
	chartMargin   = 16
	chartFont     = 12
	chartCharW    = 6.8 // a generous average advance of the 12 px sans-serif
	chartRowH     = 22
	chartBarH     = 14
	chartPanelW   = 320 // the bars' length at the axis' top
	chartValueW   = 76  // room for the value after the longest bar
	chartPanelGap = 24
	chartTop      = 84 // first bar's row
)

// scale maps a value to [0, 1] of the panel's width: linear from 0, or
// log10 when the values present span more than two orders of magnitude.
type scale struct {
	log    bool
	lo, hi float64 // log: exponents of 10; linear: values
}

func present(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }

func newScale(vals []float64) scale {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		if present(v) && v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		return scale{lo: 0, hi: 1}
	}
	if hi/lo > 100 {
		// The smallest bar keeps some length: the axis starts a decade
		// strictly below it.
		return scale{log: true, lo: math.Ceil(math.Log10(lo)) - 1, hi: math.Ceil(math.Log10(hi))}
	}
	step := niceStep(hi / 5)
	return scale{lo: 0, hi: math.Ceil(hi/step) * step}
}

// niceStep is 1, 2 or 5 times a power of ten, at least x.
func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch m := x / p; {
	case m <= 1:
		return p
	case m <= 2:
		return 2 * p
	case m <= 5:
		return 5 * p
	default:
		return 10 * p
	}
}

// frac is v's share of the axis; 0 for zero or a missing value.
func (s scale) frac(v float64) float64 {
	if !present(v) || v == 0 {
		return 0
	}
	var f float64
	if s.log {
		f = (math.Log10(v) - s.lo) / (s.hi - s.lo)
	} else {
		f = (v - s.lo) / (s.hi - s.lo)
	}
	return min(max(f, 0), 1)
}

// ticks are the axis' labelled values: each decade, or about five steps.
func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		for e := s.lo; e <= s.hi; e++ {
			t = append(t, math.Pow(10, e))
		}
		return t
	}
	step := niceStep(s.hi / 5)
	for v := 0.0; v <= s.hi+step/2; v += step {
		t = append(t, v)
	}
	return t
}

// tickLabel is a compact axis number: 500, 2.5k, 10k, 1M.
func tickLabel(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

// thousands writes an integer with comma separators: 33,242.
func thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// panel is one of the two bar charts.
type panel struct {
	title string
	value func(chartBar) float64
	text  func(float64) string
}

// writeChart writes c as an SVG document.
func writeChart(w io.Writer, c chart) error {
	labelW := 0.0
	for _, b := range c.Bars {
		labelW = max(labelW, float64(utf8.RuneCountInString(b.Label))*chartCharW)
	}
	labelW = math.Ceil(labelW) + 12
	panels := []panel{
		{"req/s (higher is better)", func(b chartBar) float64 { return b.Rate }, thousands},
		{"CPU per request, µs (lower is better)", func(b chartBar) float64 { return b.CPU },
			func(v float64) string {
				if v >= 1000 {
					return thousands(v)
				}
				return strconv.FormatFloat(v, 'f', 1, 64)
			}},
	}
	panelX := func(i int) float64 { return chartMargin + labelW + float64(i)*(chartPanelW+chartValueW+chartPanelGap) }
	width := panelX(len(panels)) - chartPanelGap + chartMargin
	width = max(width, float64(utf8.RuneCountInString(c.Title))*8.5+2*chartMargin)
	axisY := float64(chartTop + len(c.Bars)*chartRowH + 4)
	height := axisY + 44

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="%d">`+"\n",
		width, height, width, height, chartFont)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", chartMargin, esc(c.Title))
	if c.Subtitle != "" {
		fmt.Fprintf(&b, `<text x="%d" y="42" fill="#444444">%s</text>`+"\n", chartMargin, esc(c.Subtitle))
	}
	for i, b2 := range c.Bars {
		y := float64(chartTop + i*chartRowH)
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			chartMargin+labelW-8, y+chartBarH-3, esc(b2.Label))
	}
	for i, p := range panels {
		x0 := panelX(i)
		vals := make([]float64, len(c.Bars))
		for j, bar := range c.Bars {
			vals[j] = p.value(bar)
		}
		s := newScale(vals)
		kind := "linear scale"
		if s.log {
			kind = "log scale"
		}
		fmt.Fprintf(&b, `<g class="panel">`+"\n")
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-weight="bold">%s</text>`+"\n", x0, chartTop-14, esc(p.title))
		for _, t := range s.ticks() {
			x := x0 + s.frac(t)*chartPanelW
			if t == 0 {
				x = x0
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", x, chartTop-4, x, axisY)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444444" font-size="10">%s</text>`+"\n", x, axisY+13, tickLabel(t))
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444444"/>`+"\n", x0, axisY, x0+chartPanelW, axisY)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle" fill="#444444">%s (%s)</text>`+"\n",
			x0+chartPanelW/2, axisY+30, esc(strings.SplitN(p.title, " (", 2)[0]), kind)
		for j, bar := range c.Bars {
			v := vals[j]
			y := float64(chartTop + j*chartRowH)
			bw := s.frac(v) * chartPanelW
			text := "n/a"
			if present(v) {
				text = p.text(v)
			}
			color := bar.Color
			if color == "" {
				color = colorUsersvc
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.2f" height="%d" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x0, y, bw, chartBarH, esc(color), esc(bar.Label), esc(text))
			fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%.1f">%s</text>`+"\n", x0+bw+4, y+chartBarH-3, esc(text))
		}
		fmt.Fprintf(&b, "</g>\n")
	}
	fmt.Fprintf(&b, "</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeChartFile writes c to path.
func writeChartFile(path string, c chart) error {
	var b bytes.Buffer
	if err := writeChart(&b, c); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func µsFloat(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// warmChart is the default run's rows: for each setup, the baseline and
// usersvc.
func warmChart(o options, r results, when time.Time) chart {
	rounds := max(o.rounds, 1)
	c := chart{
		Title: fmt.Sprintf("loadgen warm GET /user/<id>: usersvc vs bare gin baseline, %s, %s per server (%d rounds)",
			when.UTC().Format("2006-01-02 15:04 UTC"), o.duration, rounds),
		Subtitle: fmt.Sprintf("%d connections, LOG_LEVEL=info; CPU is the server process's user+system time per request", o.conns),
	}
	for _, rw := range r.Rows {
		for _, s := range []sample{rw.Baseline, rw.Service} {
			color := colorUsersvc
			if strings.HasPrefix(s.Name, "baseline") {
				color = colorBaseline
			}
			c.Bars = append(c.Bars, chartBar{Label: rw.Setup.Name + " · " + s.Name, Rate: s.rate(),
				CPU: µsFloat(s.cpuPerRequest()), Color: color})
		}
	}
	return c
}

// neoChart is the -neo4j run's rows: for each request, usersvc and
// Amundsen's metadata service, then the bare gin handler.
func neoChart(o options, r neoResults, when time.Time) chart {
	c := chart{
		Title: fmt.Sprintf("loadgen -neo4j: usersvc vs Amundsen metadata on Neo4j %s, %s, %s per row",
			r.Neo4jVersion, when.UTC().Format("2006-01-02 15:04 UTC"), o.neoDuration),
		Subtitle: fmt.Sprintf("%d connections; CPU per request counts the server and Neo4j's JVM (the gin row has no Neo4j)", o.conns),
	}
	for _, s := range r.Rows {
		color := colorUsersvc
		switch {
		case strings.HasPrefix(s.Name, "baseline"):
			color = colorBaseline
		case strings.Contains(strings.ToLower(s.Name), "amundsen"):
			color = colorAmundsen
		}
		c.Bars = append(c.Bars, chartBar{Label: s.Request + " · " + s.Name, Rate: s.rate(), CPU: µsFloat(s.cpuPerRequest()), Color: color})
	}
	return c
}
