package conform

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/govent/govent/cmd/internal/english"
)

// The reports: human lines, JSON lines (one object per case), JUnit XML
// (one testsuite per group), and the Markdown case list.

// WriteText writes one result as the human report shows it: the status,
// id, severity and title, then for a failure what was sent, expected and
// received, for a skip why, for a pass the note if any.
func WriteText(w io.Writer, r Result) {
	c := r.Case
	fmt.Fprintf(w, "%s  %-12s %-6s %s\n", r.Status, c.ID, c.Severity, c.Title)
	switch r.Status {
	case Fail:
		for _, s := range r.Sent {
			fmt.Fprintf(w, "      sent:     %s\n", s)
		}
		if r.Expected != "" {
			fmt.Fprintf(w, "      expected: %s\n", r.Expected)
			fmt.Fprintf(w, "      got:      %s\n", r.Got)
		} else {
			fmt.Fprintf(w, "      error:    %s\n", r.Message)
		}
		fmt.Fprintf(w, "      spec:     %s: %s\n", c.Spec, c.Requirement)
		for _, d := range c.Departures {
			fmt.Fprintf(w, "      known:    %s\n", d)
		}
	case Skip:
		fmt.Fprintf(w, "      skipped:  %s\n", r.Message)
	default:
		if r.Message != "" {
			fmt.Fprintf(w, "      note:     %s\n", r.Message)
		}
	}
}

// WriteStart writes the opening lines of the human report: the target,
// where connections come from, and the plan of a paced run.
func WriteStart(w io.Writer, rep *Report) {
	role := rep.TargetRole.String()
	if rep.TargetRole == Both {
		role = "unknown role"
	}
	target := rep.Target
	if rep.Address != "" {
		target += " at " + rep.Address
	}
	fmt.Fprintf(w, "%s (%s, %s); connections from %s\n", target, orUnknown(rep.TargetAgent), role, rep.Sources)
	if rep.Estimate > 0 {
		fmt.Fprintf(w, "at most %d connections; pacing alone makes the run take up to %s\n", rep.Planned, rep.Estimate.Round(time.Second))
	}
	fmt.Fprintln(w)
}

// WriteSummary writes the closing lines of the human report.
func WriteSummary(w io.Writer, rep *Report) {
	role := rep.TargetRole.String()
	if rep.TargetRole == Both {
		role = "unknown role"
	}
	fmt.Fprintf(w, "\n%s (%s, %s): %s, %d passed, %d failed (%d MUST, %d SHOULD), %d skipped in %s\n",
		rep.Target, orUnknown(rep.TargetAgent), role, english.Count(len(rep.Results), "case", "cases"), rep.Count(Pass, -1),
		rep.Count(Fail, -1), rep.Count(Fail, Must), rep.Count(Fail, Should), rep.Count(Skip, -1),
		rep.Elapsed.Round(time.Millisecond))
	for _, b := range rep.Bans {
		fmt.Fprintf(w, "refused for connecting too often: %s\n", b)
	}
	if len(rep.Bans) > 0 {
		fmt.Fprintf(w, "the cases it refused were skipped: %s\n", banHint)
	}
	if rep.Gone != "" {
		fmt.Fprintf(w, "stopped early: %s\n", rep.Gone)
	}
	if rep.Sources != rep.startSources {
		fmt.Fprintf(w, "connections came from %s\n", rep.Sources)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown agent"
	}
	return s
}

// jsonResult is the JSON form of one result.
type jsonResult struct {
	ID          string   `json:"id"`
	Group       string   `json:"group"`
	Title       string   `json:"title"`
	Severity    string   `json:"severity"`
	Spec        string   `json:"spec"`
	Requirement string   `json:"requirement"`
	Role        string   `json:"role"`
	Status      string   `json:"status"`
	Message     string   `json:"message,omitempty"`
	Expected    string   `json:"expected,omitempty"`
	Got         string   `json:"got,omitempty"`
	Sent        []string `json:"sent,omitempty"`
	Departures  []string `json:"departures,omitempty"`
	Connections int      `json:"connections"`
	DurationMS  float64  `json:"duration_ms"`
}

// WriteJSON writes one JSON object per case, a line each.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	for _, r := range rep.Results {
		c := r.Case
		err := enc.Encode(jsonResult{
			ID: c.ID, Group: groupOf(c.ID), Title: c.Title, Severity: c.Severity.String(), Spec: c.Spec.String(),
			Requirement: c.Requirement, Role: c.Role.String(), Status: r.Status.String(), Message: r.Message,
			Expected: r.Expected, Got: r.Got, Sent: r.Sent, Departures: c.Departures, Connections: r.Conns,
			DurationMS: float64(r.Duration.Microseconds()) / 1000,
		})
		if err != nil {
			return fmt.Errorf("conform: writing JSON: %w", err)
		}
	}
	return nil
}

// JUnit XML, in the shape CI systems read (the Ant junit schema):
// testsuites / testsuite / testcase with failure or skipped.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
	Skipped   *junitSkipped `xml:"skipped"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: one testsuite per group, one
// testcase per case, failures with their evidence.
func WriteJUnit(w io.Writer, rep *Report) error {
	root := junitSuites{Name: "govent conform " + rep.Target, Time: seconds(rep.Elapsed)}
	index := map[string]int{}
	var spent []time.Duration // per suite
	for _, r := range rep.Results {
		g := groupOf(r.Case.ID)
		i, ok := index[g]
		if !ok {
			i = len(root.Suites)
			index[g] = i
			root.Suites = append(root.Suites, junitSuite{Name: g})
			spent = append(spent, 0)
		}
		s := &root.Suites[i]
		tc := junitCase{Name: r.Case.ID + " " + r.Case.Title, ClassName: "conform." + g, Time: seconds(r.Duration)}
		switch r.Status {
		case Fail:
			var ev strings.Builder
			for _, line := range r.Sent {
				fmt.Fprintf(&ev, "sent:     %s\n", line)
			}
			fmt.Fprintf(&ev, "expected: %s\ngot:      %s\nspec:     %s: %s\n", r.Expected, r.Got, r.Case.Spec, r.Case.Requirement)
			for _, d := range r.Case.Departures {
				fmt.Fprintf(&ev, "known:    %s\n", d)
			}
			tc.Failure = &junitFailure{Message: r.Message, Type: r.Case.Severity.String(), Text: ev.String()}
			s.Failures++
			root.Failures++
		case Skip:
			tc.Skipped = &junitSkipped{Message: r.Message}
			s.Skipped++
			root.Skipped++
		}
		s.Tests++
		root.Tests++
		spent[i] += r.Duration
		s.Time = seconds(spent[i])
		s.Cases = append(s.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("conform: writing JUnit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteList writes the case list as --list prints it.
func WriteList(w io.Writer, groups []*Group) {
	for _, g := range groups {
		fmt.Fprintf(w, "%s: %s\n", g.Key, g.Title)
		for _, c := range g.Cases {
			role := ""
			if c.Role != Both {
				role = " [" + c.Role.String() + "]"
			}
			fmt.Fprintf(w, "  %-12s %-6s %s%s (%s)\n", c.ID, c.Severity, c.Title, role, c.Spec)
		}
	}
}

// WriteMarkdown writes the case list document (CASES.md).
func WriteMarkdown(w io.Writer, groups []*Group) {
	total, must := 0, 0
	for _, g := range groups {
		for _, c := range g.Cases {
			total++
			if c.Severity == Must {
				must++
			}
		}
	}
	fmt.Fprintf(w, "# Conformance cases\n\n")
	fmt.Fprintf(w, "Generated from the suite by `go test ./cmd/internal/conform -run TestCasesDoc -update`; do not edit.\n\n")
	fmt.Fprintf(w, "`govent conform` plays %d cases (%d MUST, %d SHOULD) in %d groups. ", total, must, total-must, len(groups))
	fmt.Fprintf(w, "A MUST failure makes it exit 1; a SHOULD failure is reported only. ")
	fmt.Fprintf(w, "The target column says which role the servent under test must play (`--role`).\n\n")
	fmt.Fprintf(w, "| group | cases |\n|---|---|\n")
	for _, g := range groups {
		fmt.Fprintf(w, "| [%s](#%s) | %d |\n", g.Key, g.Key, len(g.Cases))
	}
	fmt.Fprintf(w, "\nThe documents cited:\n\n")
	for _, d := range Documents {
		fmt.Fprintf(w, "- **%s**: %s\n", d.Name, d.Where)
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n## %s\n\n%s.\n\n", g.Key, g.Title)
		fmt.Fprintf(w, "| id | severity | target | title | spec | requirement |\n|---|---|---|---|---|---|\n")
		var known []string
		for _, c := range g.Cases {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", c.ID, c.Severity, c.Role, mdCell(c.Title), mdCell(c.Spec.String()), mdCell(c.Requirement))
			for _, d := range c.Departures {
				known = append(known, fmt.Sprintf("- **%s**: %s", c.ID, strings.ReplaceAll(d, "\n", " ")))
			}
		}
		if len(known) > 0 {
			fmt.Fprintf(w, "\nKnown departures of deployed servents:\n\n%s\n", strings.Join(known, "\n"))
		}
	}
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}
