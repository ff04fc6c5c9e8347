package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/urfave/cli/v3"
)

// Every flag of every command can be set three ways besides its default,
// in this order of precedence: the command line, the environment, the
// config file. The names follow from the command and the flag, so a new
// command or flag needs nothing here:
//
//	govent run --max-peers 4         GOVENT_MAX_PEERS=4          [run] max-peers = 4
//	govent search --timeout 9s       GOVENT_SEARCH_TIMEOUT=9s    [search] timeout = "9s"
//	govent wire decode --json        GOVENT_WIRE_DECODE_JSON=1   [wire.decode] json = true
//
// `run` is the servent itself, so its variables have no command prefix
// (GOVENT_LISTEN); every other command's do, so that the servent's
// GOVENT_LISTEN never makes `search` bind the servent's port. The config
// file is named by --config or $GOVENT_CONFIG; without one, none is read.

// settingsKey holds the running command's *settings in its context.
type settingsKey struct{}

// settings say where the running command's flags got their values.
type settings struct {
	sources map[string]string // flag name to "$GOVENT_X" or the config file; absent: command line or default
}

// sourceOf names where a flag's value came from, or "" for the command
// line and the default.
func sourceOf(ctx context.Context, flag string) string {
	if st, ok := ctx.Value(settingsKey{}).(*settings); ok {
		return st.sources[flag]
	}
	return ""
}

// configFlags are the flags of a command that the environment and the
// config file can set: all of its own but --help.
func configFlags(c *cli.Command) []cli.Flag {
	var out []cli.Flag
	for _, f := range c.Flags {
		if f.Names()[0] != "help" {
			out = append(out, f)
		}
	}
	return out
}

func envPrefix(path []string) string {
	if len(path) == 1 && path[0] == "run" {
		return "GOVENT_"
	}
	return "GOVENT_" + envWord(strings.Join(path, "_")) + "_"
}

// envName is the variable that sets a flag of the command at path.
func envName(path []string, flag string) string { return envPrefix(path) + envWord(flag) }

func envWord(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// applySettings fills the flags of the running command c that the command
// line left unset, from the environment, then from the config file.
func applySettings(ctx context.Context, c *cli.Command, lookupEnv func(string) (string, bool)) (context.Context, error) {
	flags := configFlags(c)
	if len(flags) == 0 {
		return ctx, nil
	}
	file, err := openConfig(c, lookupEnv)
	if err != nil {
		return ctx, err
	}
	sources, err := resolve(c.Path()[1:], flags, c.IsSet, c.Set, lookupEnv, file)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, settingsKey{}, &settings{sources: sources}), nil
}

// resolve gives every flag that isSet denies a value from the environment
// or else the file, through set, and returns where each value came from.
func resolve(path []string, flags []cli.Flag, isSet func(string) bool, set func(name, value string) error,
	lookupEnv func(string) (string, bool), file *configFile) (map[string]string, error) {
	sources := map[string]string{}
	for _, f := range flags {
		name := f.Names()[0]
		if isSet(name) {
			continue
		}
		env := envName(path, name)
		if v, ok := lookupEnv(env); ok && v != "" {
			if err := set(name, v); err != nil {
				return nil, usageError(fmt.Errorf("%s %q: %s (from $%s)", dashed(name), v, wantFor(f, err.Error()), env))
			}
			sources[name] = "$" + env
			continue
		}
		vals, ok := file.lookup(path, name)
		if !ok {
			continue
		}
		for _, v := range vals {
			if err := set(name, v); err != nil {
				return nil, usageError(fmt.Errorf("%s %q: %s (from %s in %s)", dashed(name), v, wantFor(f, err.Error()),
					configKey(path, name), file.name))
			}
		}
		sources[name] = file.name
	}
	return sources, nil
}

func configKey(path []string, flag string) string {
	return strings.Join(append(slices.Clip(path), flag), ".")
}

// configFile is a loaded config file: every value it sets, as text for
// the flags' own parsers, by dotted key ("wire.decode.json").
type configFile struct {
	name   string
	values map[string][]string
}

func (f *configFile) lookup(path []string, flag string) ([]string, bool) {
	if f == nil {
		return nil, false
	}
	v, ok := f.values[configKey(path, flag)]
	return v, ok
}

// openConfig loads the file that --config or $GOVENT_CONFIG names; nil
// without one.
func openConfig(c *cli.Command, lookupEnv func(string) (string, bool)) (*configFile, error) {
	name, from := c.String("config"), "--config"
	if !c.IsSet("config") {
		name, from = "", "$GOVENT_CONFIG"
		if v, ok := lookupEnv("GOVENT_CONFIG"); ok {
			name = v
		}
	}
	if name == "" {
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, usageError(fmt.Errorf("%s %s: %w", from, name, err))
	}
	return parseConfig(c.Root(), name, data)
}

// parseConfig decodes a config file against the command tree of root.
func parseConfig(root *cli.Command, name string, data []byte) (*configFile, error) {
	schema, err := configSchema(root)
	if err != nil {
		return nil, err
	}
	v := reflect.New(schema)
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, usageError(configError(root, name, err))
	}
	f := &configFile{name: name, values: map[string][]string{}}
	f.collect(root, nil, v.Elem())
	return f, nil
}

// configSchema is the config file's type, built from the command tree: a
// struct per command, holding a pointer per flag (nil: not in the file)
// and a pointer to each subcommand's struct. Built from the flags, the
// file cannot drift from them, and go-toml's strict decoding reports each
// unknown key with its line.
func configSchema(root *cli.Command) (reflect.Type, error) { return commandSchema(root, true) }

func commandSchema(c *cli.Command, isRoot bool) (reflect.Type, error) {
	var fields []reflect.StructField
	add := func(key string, t reflect.Type) {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", len(fields)), Type: t, Tag: reflect.StructTag(fmt.Sprintf("toml:%q", key)),
		})
	}
	if !isRoot {
		for _, f := range configFlags(c) {
			t, err := tomlType(f)
			if err != nil {
				return nil, err
			}
			add(f.Names()[0], reflect.PointerTo(t))
		}
	}
	for _, sub := range c.Commands {
		st, err := commandSchema(sub, false)
		if err != nil {
			return nil, err
		}
		if st.NumField() > 0 {
			add(sub.Name, reflect.PointerTo(st))
		}
	}
	return reflect.StructOf(fields), nil
}

// tomlType is the Go type a flag's value decodes into from TOML.
func tomlType(f cli.Flag) (reflect.Type, error) {
	switch valueKind(f) {
	case kindString, kindDuration:
		return reflect.TypeFor[string](), nil
	case kindBool:
		return reflect.TypeFor[bool](), nil
	case kindInt:
		return reflect.TypeFor[int64](), nil
	case kindUint:
		return reflect.TypeFor[uint64](), nil
	case kindFloat:
		return reflect.TypeFor[float64](), nil
	case kindStrings:
		return reflect.TypeFor[[]string](), nil
	}
	return nil, fmt.Errorf("flag --%s: no config-file type for %T; add one to valueKind in cmd/govent/cli.go", f.Names()[0], f)
}

// collect walks the decoded value v of command c into f.values.
func (f *configFile) collect(c *cli.Command, path []string, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("toml")
		fv := v.Field(i)
		if fv.IsNil() {
			continue
		}
		fv = fv.Elem()
		if sub := c.Command(key); sub != nil && fv.Kind() == reflect.Struct {
			f.collect(sub, append(slices.Clip(path), key), fv)
			continue
		}
		var vals []string
		switch fv.Kind() {
		case reflect.String:
			vals = []string{fv.String()}
		case reflect.Bool:
			vals = []string{strconv.FormatBool(fv.Bool())}
		case reflect.Int64:
			vals = []string{strconv.FormatInt(fv.Int(), 10)}
		case reflect.Uint64:
			vals = []string{strconv.FormatUint(fv.Uint(), 10)}
		case reflect.Float64:
			vals = []string{strconv.FormatFloat(fv.Float(), 'g', -1, 64)}
		case reflect.Slice:
			vals = fv.Interface().([]string)
		}
		f.values[configKey(path, key)] = vals
	}
}

// configError turns go-toml's errors into one line with the file, the
// line and the key, in the words of the flags.
func configError(root *cli.Command, name string, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		e := sm.Errors[0]
		row, _ := e.Position()
		key := e.Key()
		msg := fmt.Sprintf("%s:%d: unknown key %s", name, row, strings.Join(key, "."))
		if c := commandAt(root, key[:len(key)-1]); c != nil {
			var choices []string
			if c != root {
				for _, f := range configFlags(c) {
					choices = append(choices, f.Names()[0])
				}
			}
			for _, sub := range c.Commands {
				choices = append(choices, sub.Name)
			}
			if s := suggest(key[len(key)-1], choices); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
		}
		if n := len(sm.Errors) - 1; n > 0 {
			msg += fmt.Sprintf(", and %d more", n)
		}
		return errors.New(msg)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := de.Key()
		if len(key) > 0 {
			if c := commandAt(root, key[:len(key)-1]); c != nil {
				if f := findFlag(c, key[len(key)-1]); f != nil {
					return fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(key, "."), tomlWant(f))
				}
			}
			return fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(key, "."), strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("%s:%d:%d: %s", name, row, col, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fmt.Errorf("%s: %w", name, err)
}

func commandAt(root *cli.Command, path []string) *cli.Command {
	c := root
	for _, name := range path {
		if c = c.Command(name); c == nil {
			return nil
		}
	}
	return c
}

// tomlWant says what TOML value a flag takes.
func tomlWant(f cli.Flag) string {
	switch valueKind(f) {
	case kindDuration:
		return `want a duration string such as "5s" or "1m30s"`
	case kindString:
		return "want a string"
	case kindStrings:
		return `want an array of strings such as ["a", "b"]`
	}
	return wantFor(f, "")
}

func configCommand(lookupEnv func(string) (string, bool)) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show the configuration that commands would use",
		Commands: []*cli.Command{{
			Name:      "print",
			Usage:     "print the effective configuration as TOML, each value with where it came from",
			ArgsUsage: "[TABLE]",
			Description: "Prints every command's flags as the TOML tables of a config file ([run],\n" +
				"[search], [wire.decode], ...), each value from the environment, the --config\n" +
				"file or the default, in that order, with a comment naming its source. With TABLE\n" +
				"(run, search, wire.decode, ...) only that command's. The output is itself a valid\n" +
				"config file.",
			Action: func(_ context.Context, c *cli.Command) error {
				if c.NArg() > 1 {
					return wantArgs(c, 1, "TABLE argument")
				}
				return printConfig(c, c.Args().First(), lookupEnv)
			},
		}},
	}
}

// printConfig writes the effective configuration of every configurable
// command (or of the one at table) as TOML.
func printConfig(c *cli.Command, table string, lookupEnv func(string) (string, bool)) error {
	file, err := openConfig(c, lookupEnv)
	if err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString("# The effective configuration: each value from the environment, the config file or\n# the default (a flag on the command line overrides all three).\n")
	if file != nil {
		fmt.Fprintf(&out, "# Config file: %s\n", file.name)
	}
	found := false
	var ferr error
	walkCommands(c.Root(), nil, func(path []string, cmd *cli.Command) {
		flags := configFlags(cmd)
		// A group (wire, capture) has no flags; fuzz-peer has flags and
		// a subcommand, and a table of each.
		if ferr != nil || len(path) == 0 || len(flags) == 0 ||
			(table != "" && strings.Join(path, ".") != table) {
			return
		}
		found = true
		set := func(name, v string) error { return findFlag(cmd, name).Set(name, v) }
		sources, err := resolve(path, flags, func(string) bool { return false }, set, lookupEnv, file)
		if err != nil {
			ferr = err
			return
		}
		fmt.Fprintf(&out, "\n[%s]\n", strings.Join(path, "."))
		for _, f := range flags {
			name := f.Names()[0]
			v, src := f.(interface{ Get() any }).Get(), "default"
			if s, ok := sources[name]; ok {
				src = "from " + s
			} else if name == "data" && v == "" && strings.Join(path, ".") != "run" {
				// A client verb without --data uses run's.
				if v, src, ferr = runFallback(file, lookupEnv); ferr != nil {
					return
				}
			}
			line, err := tomlLine(name, v)
			if err != nil {
				ferr = err
				return
			}
			fmt.Fprintf(&out, "%-40s # %s\n", line, src)
		}
	})
	if ferr != nil {
		return ferr
	}
	if !found {
		return usageError(fmt.Errorf("no table %q", table))
	}
	_, err = fmt.Fprint(c.Root().Writer, out.String())
	return err
}

// tomlLine is `key = value` in TOML.
func tomlLine(key string, v any) (string, error) {
	if d, ok := v.(time.Duration); ok {
		v = d.String()
	}
	b, err := toml.Marshal(map[string]any{key: v})
	if err != nil {
		return "", fmt.Errorf("config print: %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// runFallback is the data directory a client verb without --data uses,
// run's, with a comment saying where it comes from.
func runFallback(file *configFile, lookupEnv func(string) (string, bool)) (any, string, error) {
	data, from, err := runData(file, lookupEnv)
	switch {
	case err != nil:
		return nil, "", err
	case from == "":
		return data, "default", nil
	case strings.HasPrefix(from, "$"):
		return data, "from " + from + ", as [run]", nil
	}
	return data, "from [run] in " + from, nil
}
