package peer

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// TestGeneratorIsDeterministicAndBounded: case i of a seed is the same
// every time, whatever was generated before; every case says what it
// mutated, has a protocol, and stays within the byte bound.
func TestGeneratorIsDeterministicAndBounded(t *testing.T) {
	g := newGenerator(7, AllAreas, capturedFiles)
	for i := uint64(0); i < 1500; i++ {
		c := g.generate(i)
		require.NotEmpty(t, c.Steps, "case %d", i)
		require.NotEmpty(t, c.Mutations, "case %d (%s) mutated nothing", i, c.Area)
		require.NotEmpty(t, c.Proto, "case %d", i)
		require.LessOrEqual(t, c.Bytes(), maxCaseBytes, "case %d", i)
		if c.Proto == ProtoGnutella {
			require.Len(t, c.Probe, 32, "case %d has no probe", i)
		}
		if i%97 == 0 {
			again := newGenerator(7, AllAreas, capturedFiles).generate(i)
			require.Equal(t, c, again, "case %d differs when generated alone", i)
		}
	}
	other := newGenerator(8, AllAreas, capturedFiles).generate(5)
	assert.NotEqual(t, g.generate(5).Steps, other.Steps, "the seed changes the cases")
}

// TestGeneratorCoversTrustedFields: over a few thousand cases each area
// mutates the fields the issue names as the ones parsers trust.
func TestGeneratorCoversTrustedFields(t *testing.T) {
	g := newGenerator(1, AllAreas, capturedFiles)
	seen := map[string]bool{}
	for i := uint64(0); i < 5000; i++ {
		c := g.generate(i)
		for _, m := range c.Mutations {
			seen[m.Field] = true
			seen[m.Field+":"+m.Op] = true
		}
	}
	for _, f := range []string{
		"header.length", "header.ttl_hops", "header.guid", "header.type",
		"queryhit.count:over", "queryhit.name_nul", "queryhit.ext_nul", "query.criteria_nul", "query.ext", "bye.nul",
		"ggep.length:past-end", "ggep.length:non-minimal", "ggep.length:four-chunks", "ggep.cobs", "ggep.deflate", "ggep.flags",
		"qrp.seq_no", "qrp.seq_size", "qrp.table_length", "qrp.entry_bits", "qrp.data:bomb", "qrp.order",
		"deflate.header", "deflate.stream:flip", "deflate.stream:truncate", "deflate.bomb",
		"handshake.line_length", "handshake.line_count", "handshake.folding", "handshake.encoding", "handshake.final", "handshake.start_line:0.4",
		"http.method", "http.uri", "http.version", "http.range", "http.header", "http.pipeline",
		"giv.index", "giv.guid", "giv.name", "giv.terminator",
		"bytes.flip", "bytes.insert", "bytes.delete", "bytes.splice",
	} {
		assert.True(t, seen[f], "no case mutates %s", f)
	}
	var missing []string
	for f := range seen {
		if !strings.Contains(f, ":") && !strings.Contains(f, ".") {
			missing = append(missing, f)
		}
	}
	assert.Empty(t, missing, "fields are area.name")
}

// TestCompiledSeedsMatchCaptures: seeds/gtk-gnutella.json is what seedgen
// makes of testdata/*.pcap today (run `go run ./fuzz/peer/internal/seedgen`
// from the module root when this fails).
func TestCompiledSeedsMatchCaptures(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/*.pcap")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	s, err := ExtractSeeds(paths)
	require.NoError(t, err)
	assert.Equal(t, s.Descriptors, capturedSeeds.Descriptors)
	assert.Equal(t, s.Connect, capturedSeeds.Connect)
	assert.Equal(t, s.Final, capturedSeeds.Final)
	assert.Equal(t, s.HTTP, capturedSeeds.HTTP)
	assert.Equal(t, s.GIV, capturedSeeds.GIV)
	assert.NotEmpty(t, capturedSeeds.descriptorsOf(wire.TypeQueryHit))
	assert.NotEmpty(t, capturedSeeds.GIV)
}

func TestParseRateAndAreas(t *testing.T) {
	for in, want := range map[string]float64{"200/s": 200, "6000/m": 100, "50": 50, "0": 0, "unlimited": 0, "1.5/s": 1.5} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-9, in)
	}
	for _, bad := range []string{"fast", "-1/s", "10/h", "/s"} {
		_, err := ParseRate(bad)
		assert.Error(t, err, bad)
	}
	all, err := ParseAreas("all")
	require.NoError(t, err)
	assert.Equal(t, AllAreas, all)
	some, err := ParseAreas(" GGEP,qrp,ggep ")
	require.NoError(t, err)
	assert.Equal(t, []Area{AreaGGEP, AreaQRP}, some)
	_, err = ParseAreas("ggep,bogus")
	assert.ErrorContains(t, err, `unknown area "bogus"`)
}
