package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/servent"
)

// runCaptured runs `govent args...` with `run` handing its configuration
// to the test instead of starting a servent. It returns the configuration,
// where each flag came from, and the exit code and standard error.
func runCaptured(t *testing.T, environ map[string]string, args ...string) (servent.Config, map[string]string, int, string) {
	t.Helper()
	var got servent.Config
	sources := map[string]string{}
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"govent"}, args...), env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) { v, ok := environ[k]; return v, ok },
		serve: func(ctx context.Context, rc runConfig, _ *zap.Logger) error {
			got = rc.Config
			for _, f := range []string{"listen", "max-peers", "peer", "firewalled", "mode"} {
				sources[f] = sourceOf(ctx, f)
			}
			return nil
		},
	})
	return got, sources, code, errOut.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "govent.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// The precedence table: for each of four keys of different types, every
// combination of command line, environment and config file; the highest
// that is present wins, else the default.
func TestConfigPrecedence(t *testing.T) {
	keys := []struct {
		name                    string
		def, flag, env, file    any
		flagArgs                []string
		envName, envVal, fileKV string
		get                     func(servent.Config) any
	}{
		{"listen", ":6346", "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003",
			[]string{"--listen", "127.0.0.1:1001"}, "GOVENT_LISTEN", "127.0.0.1:1002", `listen = "127.0.0.1:1003"`,
			func(c servent.Config) any { return c.Listen }},
		{"max-peers", 8, 11, 12, 13,
			[]string{"--max-peers=11"}, "GOVENT_MAX_PEERS", "12", `max-peers = 13`,
			func(c servent.Config) any { return c.MaxPeers }},
		{"peer", []string{}, []string{"127.0.0.1:2001", "127.0.0.1:2011"}, []string{"127.0.0.1:2002", "127.0.0.1:2012"}, []string{"127.0.0.1:2003"},
			[]string{"--peer", "127.0.0.1:2001", "--peer", "127.0.0.1:2011"}, "GOVENT_PEER", "127.0.0.1:2002,127.0.0.1:2012", `peer = ["127.0.0.1:2003"]`,
			func(c servent.Config) any { return c.Peers }},
		// A bool has two values, so the source shows which layer won.
		{"firewalled", false, true, false, true,
			[]string{"--firewalled"}, "GOVENT_FIREWALLED", "false", `firewalled = true`,
			func(c servent.Config) any { return c.Firewalled }},
	}
	for _, k := range keys {
		for combo := range 8 {
			useFlag, useEnv, useFile := combo&4 != 0, combo&2 != 0, combo&1 != 0
			name := fmt.Sprintf("%s/flag=%v,env=%v,file=%v", k.name, useFlag, useEnv, useFile)
			t.Run(name, func(t *testing.T) {
				args := []string{"run"}
				environ := map[string]string{}
				want, wantSrc := k.def, ""
				if useFile {
					path := writeConfig(t, "[run]\n"+k.fileKV+"\n")
					args = append(args, "--config", path)
					want, wantSrc = k.file, path
				}
				if useEnv {
					environ[k.envName] = k.envVal
					want, wantSrc = k.env, "$"+k.envName
				}
				if useFlag {
					args = append(args, k.flagArgs...)
					want, wantSrc = k.flag, ""
				}
				cfg, sources, code, errOut := runCaptured(t, environ, args...)
				require.Equal(t, 0, code, errOut)
				assert.Equal(t, want, k.get(cfg))
				assert.Equal(t, wantSrc, sources[k.name])
			})
		}
	}
}

func TestConfigFileNamedByEnvironment(t *testing.T) {
	byEnv := writeConfig(t, "[run]\nmax-peers = 21\nmode = \"leaf\"\n")
	byFlag := writeConfig(t, "[run]\nmax-peers = 22\n")

	cfg, sources, code, errOut := runCaptured(t, map[string]string{"GOVENT_CONFIG": byEnv}, "run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 21, cfg.MaxPeers)
	assert.Equal(t, servent.ModeLeaf, cfg.Mode)
	assert.Equal(t, byEnv, sources["mode"])

	cfg, _, code, errOut = runCaptured(t, map[string]string{"GOVENT_CONFIG": byEnv}, "run", "--config", byFlag)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 22, cfg.MaxPeers, "--config wins over $GOVENT_CONFIG")
	assert.Equal(t, servent.ModeUltrapeer, cfg.Mode, "and the other file is not read at all")

	cfg, _, code, errOut = runCaptured(t, nil, "--config", byFlag, "run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 22, cfg.MaxPeers, "--config before the command")
}

// Other commands take GOVENT_<COMMAND>_<FLAG>: the servent's GOVENT_LISTEN
// must not make a search bind the servent's port.
func TestConfigEnvironmentNamesPerCommand(t *testing.T) {
	environ := map[string]string{"GOVENT_LISTEN": "127.0.0.1:6346", "GOVENT_SEARCH_TIMEOUT": "9s", "GOVENT_WIRE_DECODE_JSON": "true"}
	code, out, errOut := runCLIEnv(t, environ, "", "config", "print")
	require.Equal(t, 0, code, errOut)
	search := tableOf(t, out, "search")
	assert.Equal(t, "9s", search["timeout"])
	assert.Equal(t, ":0", search["listen"])
	assert.Equal(t, "127.0.0.1:6346", tableOf(t, out, "run")["listen"])
	assert.Equal(t, true, tableOf(t, out, "wire", "decode")["json"])

	stream := streamFile(t)
	code, out, errOut = runCLIEnv(t, map[string]string{"GOVENT_WIRE_DECODE_JSON": "true"}, "", "wire", "decode", stream)
	require.Equal(t, 0, code, errOut)
	assert.Len(t, jsonLines(t, out), 2)
}

// tableOf parses TOML text and returns the table at path.
func tableOf(t *testing.T, text string, path ...string) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, toml.Unmarshal([]byte(text), &doc), text)
	m := doc
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		require.True(t, ok, "no table %v in\n%s", path, text)
		m = next
	}
	return m
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // "" for no file
		environ map[string]string
		want    []string
	}{
		{"unknown key", "[run]\nlisten = \":1\"\nmax-peer = 3\n", nil,
			[]string{"govent.toml:3: unknown key run.max-peer (did you mean max-peers?)"}},
		{"unknown table", "[serach]\ntimeout = \"1s\"\n", nil,
			[]string{"govent.toml:1: unknown key serach (did you mean search?)"}},
		{"unknown key at the top", "listen = \":1\"\n", nil, []string{"govent.toml:1: unknown key listen"}},
		{"a string for a number", "[run]\nmax-peers = \"many\"\n", nil,
			[]string{"govent.toml:2: run.max-peers: want a whole number"}},
		{"a string for a list", "[run]\npeer = \"127.0.0.1:1\"\n", nil,
			[]string{"govent.toml:2: run.peer: want an array of strings"}},
		{"a number for a duration", "[search]\ntimeout = 5\n", nil,
			[]string{"govent.toml:2: search.timeout: want a duration string"}},
		{"a bad duration, found when search runs", "[search]\ntimeout = \"soon\"\n", nil,
			[]string{`--timeout "soon": want a duration`, "from search.timeout in", "govent.toml"}},
		{"not TOML", "[run\n", nil, []string{"govent.toml:1:"}},
		{"a value the CLI refuses", "[run]\nmax-peers = -3\n", nil,
			[]string{"--max-peers -3: must be 1 or more (from ", "govent.toml)"}},
		{"a bad environment value", "", map[string]string{"GOVENT_MAX_PEERS": "abc"},
			[]string{`--max-peers "abc": want a whole number (from $GOVENT_MAX_PEERS)`}},
		{"a refused environment value", "", map[string]string{"GOVENT_MODE": "hub"},
			[]string{"--mode hub: want ultrapeer, leaf or auto (from $GOVENT_MODE)"}},
		{"a missing file", "", map[string]string{"GOVENT_CONFIG": "/nonexistent/govent.toml"},
			[]string{"$GOVENT_CONFIG /nonexistent/govent.toml: ", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"run"}
			if strings.Contains(tt.name, "search") {
				args = []string{"search", "xyz", "--peer", "127.0.0.1:1"}
			}
			if tt.file != "" {
				args = append(args, "--config", writeConfig(t, tt.file))
			}
			_, _, code, errOut := runCaptured(t, tt.environ, args...)
			assert.Equal(t, 2, code, errOut)
			for _, w := range tt.want {
				assert.Contains(t, errOut, w)
			}
			assert.NotContains(t, errOut, "struct")
			assert.NotContains(t, errOut, "MaxPeers")
		})
	}
}

// config print shows every value with its source, and its output is a
// config file that gives the same configuration back.
func TestConfigPrint(t *testing.T) {
	path := writeConfig(t, "[run]\nmax-peers = 3\npeer = [\"127.0.0.1:7001\", \"127.0.0.1:7002\"]\n\n[capture.decode]\njson = true\n")
	environ := map[string]string{"GOVENT_SHARE": "/srv/share", "GOVENT_SEARCH_TIMEOUT": "1m30s"}
	code, out, errOut := runCLIEnv(t, environ, "", "config", "print", "--config", path)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^max-peers = 3 +# from `+regexpQuote(path)+`$`, out)
	assert.Regexp(t, `(?m)^share = '/srv/share' +# from \$GOVENT_SHARE$`, out)
	assert.Regexp(t, `(?m)^listen = ':6346' +# default$`, out)
	assert.Regexp(t, `(?m)^timeout = '1m30s' +# from \$GOVENT_SEARCH_TIMEOUT$`, out)
	assert.Contains(t, out, "[capture.decode]")
	assert.Equal(t, true, tableOf(t, out, "capture", "decode")["json"])
	assert.Equal(t, []any{"127.0.0.1:7001", "127.0.0.1:7002"}, tableOf(t, out, "run")["peer"])
	assert.NotContains(t, out, "[help]")
	assert.NotContains(t, out, "[version]")

	// Fed back as the only source, it reproduces itself.
	again := writeConfig(t, out)
	code, out2, errOut := runCLI(t, "", "config", "print", "--config", again)
	require.Equal(t, 0, code, errOut)
	var a, b map[string]any
	require.NoError(t, toml.Unmarshal([]byte(out), &a))
	require.NoError(t, toml.Unmarshal([]byte(out2), &b))
	assert.Equal(t, a, b)

	code, out, errOut = runCLI(t, "", "config", "print", "run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "[run]")
	assert.NotContains(t, out, "[search]")
	code, _, errOut = runCLI(t, "", "config", "print", "nothing")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `no table "nothing"`)

	// The time a duration takes is its flag's syntax, in the file too.
	cfgPath := writeConfig(t, "[search]\ntimeout = \"250ms\"\n")
	code, out, errOut = runCLI(t, "", "config", "print", "search", "--config", cfgPath)
	require.Equal(t, 0, code, errOut)
	d, err := time.ParseDuration(tableOf(t, out, "search")["timeout"].(string))
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, d)
}

// config print shows the data directory the client verbs will use: run's,
// unless they have their own.
func TestConfigPrintClientData(t *testing.T) {
	path := writeConfig(t, "[run]\ndata = 'd4'\n\n[status]\ndata = 'd5'\n")
	code, out, errOut := runCLI(t, "", "config", "print", "--config", path)
	require.Equal(t, 0, code, errOut)
	for _, table := range []string{"search", "get"} {
		assert.Equal(t, "d4", tableOf(t, out, table)["data"], table)
	}
	assert.Regexp(t, `(?m)^data = 'd4' +# from \[run\] in `+regexpQuote(path)+`$`, out)
	assert.Equal(t, "d5", tableOf(t, out, "status")["data"])

	code, out, errOut = runCLIEnv(t, map[string]string{"GOVENT_DATA": "d6"}, "", "config", "print", "search")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^data = 'd6' +# from \$GOVENT_DATA, as \[run\]$`, out)

	code, out, errOut = runCLI(t, "", "config", "print", "get")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^data = '' +# default$`, out)
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Every flag of every command has a config-file type and an environment
// variable of its own: a command added later fails here, not in a user's
// hands.
func TestConfigCoversEveryFlag(t *testing.T) {
	app := newApp(env{lookupEnv: os.LookupEnv})
	_, err := configSchema(app)
	require.NoError(t, err)
	seen := map[string]string{}
	walkCommands(app, nil, func(path []string, c *cli.Command) {
		if len(path) == 0 {
			return
		}
		for _, f := range configFlags(c) {
			name := envName(path, f.Names()[0])
			where := configKey(path, f.Names()[0])
			if prev, dup := seen[name]; dup {
				t.Errorf("%s and %s both read $%s", prev, where, name)
			}
			seen[name] = where
		}
	})
	assert.Equal(t, "run.max-peers", seen["GOVENT_MAX_PEERS"])
	assert.Equal(t, "search.timeout", seen["GOVENT_SEARCH_TIMEOUT"])
	assert.Equal(t, "wire.decode.max-payload", seen["GOVENT_WIRE_DECODE_MAX_PAYLOAD"])
	assert.NotContains(t, seen, "GOVENT_CONFIG", "the config file does not name itself")
}

// --per-address raises every per-address limit of the servent; without it
// the servent's defaults hold.
func TestRunPerAddress(t *testing.T) {
	cfg, _, code, errOut := runCaptured(t, nil, "run", "--per-address", "64")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, [4]int{64, 64, 64, 64}, [4]int{cfg.MaxPendingPerIP, cfg.MaxPeersPerIP, cfg.MaxLeavesPerIP, cfg.MaxHTTPSessionsPerIP})
	cfg, _, code, errOut = runCaptured(t, map[string]string{"GOVENT_PER_ADDRESS": "9"}, "run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 9, cfg.MaxPeersPerIP)
	cfg, _, code, errOut = runCaptured(t, nil, "run")
	require.Equal(t, 0, code, errOut)
	assert.Zero(t, cfg.MaxPeersPerIP, "zero: the servent's default")
	_, _, code, errOut = runCaptured(t, nil, "run", "--per-address", "-1")
	assert.Equal(t, 2, code, errOut)
}

// TLS is on unless --no-tls (or GOVENT_NO_TLS) turns it off.
func TestRunNoTLS(t *testing.T) {
	cfg, _, code, errOut := runCaptured(t, nil, "run")
	require.Equal(t, 0, code, errOut)
	assert.False(t, cfg.NoTLS)
	cfg, _, code, errOut = runCaptured(t, nil, "run", "--no-tls")
	require.Equal(t, 0, code, errOut)
	assert.True(t, cfg.NoTLS)
	cfg, _, code, errOut = runCaptured(t, map[string]string{"GOVENT_NO_TLS": "true"}, "run")
	require.Equal(t, 0, code, errOut)
	assert.True(t, cfg.NoTLS)
}

// fuzz-peer has a subcommand (replay) and flags of its own: config print
// shows its table too, where its help says its flags can be set.
func TestConfigPrintCommandWithSubcommand(t *testing.T) {
	path := writeConfig(t, "[fuzz-peer]\nduration = \"5s\"\n\n[fuzz-peer.replay]\nrecover-wait = \"3s\"\n")
	code, out, errOut := runCLI(t, "", "config", "print", "--config", path)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^\[fuzz-peer\]\n(.*\n)*duration = '5s' +# from `+regexpQuote(path)+`$`, out)
	assert.Equal(t, "3s", tableOf(t, out, "fuzz-peer", "replay")["recover-wait"])
	code, out, errOut = runCLI(t, "", "config", "print", "fuzz-peer")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "[fuzz-peer]\n")
	assert.NotContains(t, out, "[fuzz-peer.replay]")
}
