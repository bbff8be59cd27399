package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svgNode is a decoded element with its attributes and text.
type svgNode struct {
	name  string
	attrs map[string]string
	text  string
}

// decodeSVG parses doc as XML, failing the test on any error, and returns
// its elements in document order.
func decodeSVG(t *testing.T, doc []byte) []*svgNode {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var nodes, stack []*svgNode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not valid XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &svgNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			nodes, stack = append(nodes, n), append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	if len(nodes) == 0 || nodes[0].name != "svg" {
		t.Fatalf("root is not <svg>:\n%s", doc)
	}
	return nodes
}

func render(t *testing.T, c chart) ([]byte, []*svgNode) {
	t.Helper()
	var b bytes.Buffer
	if err := writeChart(&b, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Fatalf("a non-number in the SVG:\n%s", b.String())
	}
	return b.Bytes(), decodeSVG(t, b.Bytes())
}

// bars are the widths of the bars of each panel, in row order.
func bars(t *testing.T, nodes []*svgNode) [][]float64 {
	t.Helper()
	var panels [][]float64
	for _, n := range nodes {
		switch {
		case n.name == "g" && n.attrs["class"] == "panel":
			panels = append(panels, nil)
		case n.name == "rect" && n.attrs["class"] == "bar":
			w, err := strconv.ParseFloat(n.attrs["width"], 64)
			if err != nil || w < 0 {
				t.Fatalf("bar width %q: %v", n.attrs["width"], err)
			}
			panels[len(panels)-1] = append(panels[len(panels)-1], w)
		}
	}
	return panels
}

func texts(nodes []*svgNode, class string) []string {
	var out []string
	for _, n := range nodes {
		if n.name == "text" && (class == "" || n.attrs["class"] == class) {
			out = append(out, n.text)
		}
	}
	return out
}

func TestChartBarsPerRowMonotone(t *testing.T) {
	c := chart{Title: "run", Bars: []chartBar{
		{Label: "a", Rate: 1000, CPU: 40},
		{Label: "b", Rate: 2500, CPU: 25.5},
		{Label: "c", Rate: 30000, CPU: 31},
		{Label: "d", Rate: 12000, CPU: 9000},
	}}
	_, nodes := render(t, c)
	p := bars(t, nodes)
	if len(p) != 2 || len(p[0]) != len(c.Bars) || len(p[1]) != len(c.Bars) {
		t.Fatalf("bars per panel: %v, want 2 panels of %d", p, len(c.Bars))
	}
	values := [][]float64{{}, {}}
	for _, b := range c.Bars {
		values[0] = append(values[0], b.Rate)
		values[1] = append(values[1], b.CPU)
	}
	for k := range p {
		for i := range p[k] {
			for j := range p[k] {
				if values[k][i] < values[k][j] && !(p[k][i] < p[k][j]) {
					t.Errorf("panel %d: value %g has bar %g, value %g has bar %g", k, values[k][i], p[k][i], values[k][j], p[k][j])
				}
			}
		}
		if p[k][0] <= 0 {
			t.Errorf("panel %d: the smallest value has no bar: %v", k, p[k])
		}
	}
	// req/s span 30x: linear; CPU spans 350x: log, and the axis says so.
	axes := texts(nodes, "axis")
	if len(axes) != 2 || strings.Contains(axes[0], "log") || !strings.Contains(axes[1], "log scale") {
		t.Fatalf("axis captions: %q", axes)
	}
	if !strings.Contains(strings.Join(texts(nodes, "value"), " "), "30,000") {
		t.Fatalf("values: %q", texts(nodes, "value"))
	}
}

func TestChartEscapesLabels(t *testing.T) {
	label := `usersvc <"fast"> & 'gin'`
	c := chart{Title: `title <&">`, Subtitle: "a & b", Bars: []chartBar{{Label: label, Rate: 1, CPU: 2}}}
	doc, nodes := render(t, c)
	if got := texts(nodes, "label"); len(got) != 1 || got[0] != label {
		t.Fatalf("labels %q, want [%q]", got, label)
	}
	all := strings.Join(texts(nodes, ""), "\n")
	if !strings.Contains(all, `title <&">`) || !strings.Contains(all, "a & b") {
		t.Fatalf("title not kept: %q", all)
	}
	if bytes.Contains(doc, []byte(`<"fast">`)) {
		t.Fatal("label written unescaped")
	}
}

func TestChartZeroAndMissing(t *testing.T) {
	c := chart{Title: "run", Bars: []chartBar{
		{Label: "zero", Rate: 0, CPU: 0},
		{Label: "missing", Rate: math.NaN(), CPU: math.Inf(1)},
		{Label: "negative", Rate: -1, CPU: -1},
		{Label: "small", Rate: 5, CPU: 1},
		{Label: "big", Rate: 50000, CPU: 1000},
	}}
	_, nodes := render(t, c)
	p := bars(t, nodes)
	for k := range p {
		if len(p[k]) != len(c.Bars) {
			t.Fatalf("panel %d: %d bars, want %d", k, len(p[k]), len(c.Bars))
		}
		for i := range 3 {
			if p[k][i] != 0 {
				t.Errorf("panel %d: %s has a bar of %g", k, c.Bars[i].Label, p[k][i])
			}
		}
		if p[k][3] <= 0 || p[k][4] <= p[k][3] {
			t.Errorf("panel %d: bars %v", k, p[k])
		}
	}
	values := texts(nodes, "value")
	if len(values) != 2*len(c.Bars) || values[0] != "0" || values[1] != "n/a" || values[2] != "n/a" {
		t.Fatalf("values: %q", values)
	}
	// Nothing at all to draw is still a chart.
	for _, c := range []chart{{Title: "empty"}, {Title: "all missing", Bars: []chartBar{{Label: "x", Rate: math.NaN(), CPU: math.NaN()}}}} {
		_, nodes := render(t, c)
		if p := bars(t, nodes); len(p) != 2 || len(p[0]) != len(c.Bars) {
			t.Fatalf("%s: %v", c.Title, p)
		}
	}
}

func TestScale(t *testing.T) {
	s := newScale([]float64{10, 5000})
	if !s.log || s.lo != 0 || s.hi != 4 || s.frac(10) <= 0 || s.frac(10000) != 1 {
		t.Fatalf("log scale: %+v, frac(10) %g", s, s.frac(10))
	}
	if got := s.ticks(); len(got) != 5 || got[0] != 1 || got[4] != 10000 {
		t.Fatalf("log ticks %v", got)
	}
	s = newScale([]float64{23, 31.8})
	if s.log || s.lo != 0 || s.hi != 40 {
		t.Fatalf("linear scale: %+v", s)
	}
	if got := s.ticks(); len(got) != 5 || got[len(got)-1] != 40 {
		t.Fatalf("linear ticks %v", got)
	}
	if got := thousands(33242.4); got != "33,242" {
		t.Fatalf("thousands: %s", got)
	}
	if got := tickLabel(2500); got != "2.5k" {
		t.Fatalf("tick label: %s", got)
	}
}

func TestRunCharts(t *testing.T) {
	when := time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC)
	o := options{duration: 6 * time.Second, rounds: 2, conns: 32, neoDuration: 5 * time.Second}
	smp := func(name string, n int, cpu time.Duration) sample {
		return sample{Name: name, Requests: n, Elapsed: time.Second, CPU: cpu}
	}
	r := results{Rows: []row{{Setup: setups[0], Baseline: smp("baseline gin", 30000, 750*time.Millisecond), Service: smp("usersvc", 27000, 860*time.Millisecond)}}}
	c := warmChart(o, r, when)
	if len(c.Bars) != 2 || c.Bars[0].Label != "representative · baseline gin" || c.Bars[1].Rate != 27000 ||
		c.Bars[1].CPU != 31.851 || c.Bars[0].Color != colorBaseline {
		t.Fatalf("warm chart: %+v", c.Bars)
	}
	for _, want := range []string{"2026-12-06 22:30 UTC", "6s", "2 rounds", "baseline"} {
		if !strings.Contains(c.Title, want) {
			t.Fatalf("title %q lacks %q", c.Title, want)
		}
	}
	nr := neoResults{Neo4jVersion: "4.4.40", Rows: []neoSample{
		{Request: "user", sample: smp("usersvc on Neo4j", 5000, time.Second)},
		{Request: "user", sample: smp("Amundsen metadata (gunicorn -w 2, debug off) on Neo4j", 300, time.Second)},
		{Request: "user", sample: smp("baseline gin (no Neo4j)", 30000, time.Second)},
	}}
	c = neoChart(o, nr, when)
	if len(c.Bars) != 3 || c.Bars[1].Color != colorAmundsen || c.Bars[2].Color != colorBaseline || !strings.Contains(c.Title, "-neo4j") ||
		!strings.Contains(c.Title, "4.4.40") || !strings.Contains(c.Title, "5s") {
		t.Fatalf("neo4j chart: %q %+v", c.Title, c.Bars)
	}
	if _, nodes := render(t, c); len(bars(t, nodes)[0]) != 3 {
		t.Fatal("neo4j chart bars")
	}
}
