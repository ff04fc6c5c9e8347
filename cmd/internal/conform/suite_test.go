package conform

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite CASES.md from the suite")

// TestCasesDoc keeps CASES.md what the suite says: run with -update after
// changing a case.
func TestCasesDoc(t *testing.T) {
	var b bytes.Buffer
	WriteMarkdown(&b, Suite())
	if *update {
		require.NoError(t, os.WriteFile("CASES.md", b.Bytes(), 0o644))
	}
	got, err := os.ReadFile("CASES.md")
	require.NoError(t, err)
	assert.Equal(t, b.String(), string(got), "CASES.md is stale: go test ./cmd/internal/conform -run TestCasesDoc -update")
}

// TestSuiteShape: the issue asks for at least 60 cases across the groups,
// each with what a report needs.
func TestSuiteShape(t *testing.T) {
	groups := Suite()
	keys := map[string]bool{}
	total := 0
	ids := map[string]bool{}
	docs := map[string]bool{}
	for _, d := range Documents {
		docs[d.Name] = true
	}
	for _, g := range groups {
		keys[g.Key] = true
		require.NotEmpty(t, g.Cases, g.Key)
		for _, c := range g.Cases {
			total++
			assert.False(t, ids[c.ID], "duplicate id %s", c.ID)
			ids[c.ID] = true
			assert.True(t, strings.HasPrefix(c.ID, g.Key+"/"), c.ID)
			assert.NotEmpty(t, c.Title, c.ID)
			assert.NotEmpty(t, c.Desc, c.ID)
			assert.NotEmpty(t, c.Requirement, c.ID)
			assert.True(t, docs[c.Spec.Doc], "%s cites %q, not in Documents", c.ID, c.Spec.Doc)
			assert.NotNil(t, c.Run, c.ID)
		}
	}
	assert.GreaterOrEqual(t, total, 60)
	for _, k := range []string{"handshake", "framing", "ping", "route", "push", "bye", "qrp", "hit", "deflate", "http", "vendor"} {
		assert.True(t, keys[k], "group %s", k)
	}
	// Cases that point at others ("see qrp/5", "As push/1") point at
	// cases that exist.
	ref := regexp.MustCompile(`\b([a-z]+/[0-9]+)\b`)
	for _, g := range groups {
		for _, c := range g.Cases {
			for _, m := range ref.FindAllString(c.Desc+" "+c.Title, -1) {
				if keys[groupOf(m)] {
					assert.True(t, ids[m], "%s refers to %s", c.ID, m)
				}
			}
		}
	}
}

func TestSelect(t *testing.T) {
	groups := Suite()
	all, err := Select(groups, nil, nil, Both)
	require.NoError(t, err)
	n := 0
	for _, g := range groups {
		n += len(g.Cases)
	}
	assert.Len(t, all, n)

	some, err := Select(groups, []string{"bye", "ping/2"}, []string{"bye/3"}, Both)
	require.NoError(t, err)
	var ids []string
	for _, c := range some {
		ids = append(ids, c.ID)
	}
	assert.Equal(t, []string{"ping/2", "bye/1", "bye/2", "bye/4", "bye/5", "bye/6"}, ids)

	leaf, err := Select(groups, []string{"qrp"}, nil, Leaf)
	require.NoError(t, err)
	for _, c := range leaf {
		assert.NotEqual(t, Ultrapeer, c.Role, c.ID)
	}
	assert.NotEmpty(t, leaf)

	_, err = Select(groups, []string{"route/99"}, nil, Both)
	assert.ErrorContains(t, err, `"route/99"`)
	_, err = Select(groups, nil, []string{"nosuch"}, Both)
	assert.Error(t, err)
}

// TestReports checks the JSON lines and the JUnit XML shape of a report
// with a pass, a failure and a skip.
func TestReports(t *testing.T) {
	groups := Suite()
	rep := &Report{Target: "127.0.0.1:6346", Elapsed: time.Second, Results: []Result{
		{Case: groups[0].Cases[0], Status: Pass, Duration: 10 * time.Millisecond},
		{Case: groups[0].Cases[1], Status: Fail, Message: "expected x; got y", Expected: "x", Got: "y <&>",
			Sent: []string{"link 1 -> PING"}, Duration: 20 * time.Millisecond},
		{Case: groups[2].Cases[0], Status: Skip, Message: "not applicable"},
	}}

	var js bytes.Buffer
	require.NoError(t, WriteJSON(&js, rep))
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	require.Len(t, lines, 3)
	var second map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	assert.Equal(t, "handshake/2", second["id"])
	assert.Equal(t, "FAIL", second["status"])
	assert.Equal(t, "SHOULD", second["severity"])
	assert.Equal(t, "y <&>", second["got"])
	assert.Equal(t, "handshake", second["group"])

	var x bytes.Buffer
	require.NoError(t, WriteJUnit(&x, rep))
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				ClassName string `xml:"classname,attr"`
				Time      string `xml:"time,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(x.Bytes(), &doc), x.String())
	assert.Equal(t, 3, doc.Tests)
	assert.Equal(t, 1, doc.Failures)
	assert.Equal(t, 1, doc.Skipped)
	require.Len(t, doc.Suites, 2)
	assert.Equal(t, "handshake", doc.Suites[0].Name)
	assert.Equal(t, 2, doc.Suites[0].Tests)
	assert.Equal(t, 1, doc.Suites[0].Failures)
	assert.Equal(t, "ping", doc.Suites[1].Name)
	hs := doc.Suites[0].Cases
	require.Len(t, hs, 2)
	assert.Nil(t, hs[0].Failure)
	assert.Equal(t, "0.010", hs[0].Time)
	assert.Equal(t, "conform.handshake", hs[1].ClassName)
	require.NotNil(t, hs[1].Failure)
	assert.Equal(t, "SHOULD", hs[1].Failure.Type)
	assert.Contains(t, hs[1].Failure.Text, "got:      y <&>")
	assert.Contains(t, hs[1].Failure.Text, "sent:     link 1 -> PING")
	require.NotNil(t, doc.Suites[1].Cases[0].Skipped)
	assert.Equal(t, "not applicable", doc.Suites[1].Cases[0].Skipped.Message)

	var text strings.Builder
	rep.Sources = "192.0.2.10"
	rep.Planned, rep.Estimate = 300, 150*time.Minute
	WriteStart(&text, rep)
	rep.Bans = []string{`192.0.2.10: "GNUTELLA/0.6 429 Banned for 5m 0s" in handshake/3`}
	rep.Gone = "the target stopped answering"
	WriteSummary(&text, rep)
	assert.Contains(t, text.String(), "connections from 192.0.2.10\n")
	assert.Contains(t, text.String(), "at most 300 connections; pacing alone makes the run take up to 2h30m0s\n")
	assert.Contains(t, text.String(), `refused for connecting too often: 192.0.2.10: "GNUTELLA/0.6 429 Banned for 5m 0s" in handshake/3`)
	assert.Contains(t, text.String(), "the cases it refused were skipped: rerun later with --pace")
	assert.Contains(t, text.String(), "stopped early: the target stopped answering\n")
	assert.Contains(t, text.String(), "connections came from 192.0.2.10\n", "the sources changed during the run")
}
