// Command govent is the Govent servent and its toolkit: join a Gnutella
// network, search and download, decode captures and descriptor streams, and
// run a local demo network.
//
// This is the only package that reads os.Args and the environment or calls
// os.Exit; everything it does is in newApp so tests can run it in-process.
//
// Every command follows the same rules (see cli.go): flags and arguments in
// any order, `--` ends the flags; exit status 2 for a usage mistake (with the
// flag named as typed and a pointer to --help) and 1 for a failure; each
// flag of a command can also come from the environment or the config file
// (config.go), in that order of precedence below the command line.
//
// A failure is one line: "govent: " once (run prints it), then what was
// being done and to what, each said once, as the standard library's net
// and os errors do ("govent: download \"f.bin\": no usable source left:
// 127.0.0.1:1: HEAD: 404 Not Found", "govent: handshake with A refused:
// 503 Full"). Library packages never put their package name in an error;
// a layer adds only the context its caller cannot know. A command may name
// itself where it speaks of its run as a whole ("conform: 43 MUST cases
// failed", "netsim: interrupted after ..."): that is what the user did,
// as in a usage error ("govent conform: ..."). errors_test.go checks the
// failures a user meets.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"
	"go.uber.org/zap"

	"github.com/govent/govent/cmd/internal/interrupt"
	"github.com/govent/govent/cmd/internal/netsim"
)

func main() {
	if os.Getenv(netsim.ChildEnv) == "1" {
		// The child ends its run on SIGINT itself, with the figures so
		// far (netsim.RunChild): interrupt holds them for nobody.
		netsimChild() // exits
	}
	code := run(context.Background(), os.Args, env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		lookupEnv: os.LookupEnv,
		serve:     runServent,
	})
	interrupt.Default() // a signal that no command took kills the process now
	os.Exit(code)
}

// env is what the CLI takes from its process: the standard streams, the
// environment, and what `run` does with the configuration it built (tests
// replace serve to look at that configuration).
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	serve          func(ctx context.Context, rc runConfig, log *zap.Logger) error
}

// usageErr is a command-line mistake: exit status 2, and a pointer to the
// command's help.
type usageErr struct {
	cmd string // the command's full name, "govent search"; set by the action wrapper
	err error
}

func (e *usageErr) Error() string { return e.err.Error() }
func (e *usageErr) Unwrap() error { return e.err }

// usageError marks err as a command-line mistake.
func usageError(err error) error { return &usageErr{err: err} }

// run executes the CLI and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	app := newApp(e)
	err := app.Run(ctx, args)
	if err == nil {
		return 0
	}
	var ue *usageErr
	if errors.As(err, &ue) {
		cmd := ue.cmd
		if cmd == "" {
			cmd = app.Name
		}
		fmt.Fprintf(e.stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd, ue.err, cmd)
		return 2
	}
	fmt.Fprintf(e.stderr, "govent: %v\n", err)
	return 1
}

func newApp(e env) *cli.Command {
	app := &cli.Command{
		Name:  "govent",
		Usage: "a Gnutella servent and toolkit",
		Description: "Govent joins a Gnutella network (0.6 handshake, ultrapeer or leaf), shares and\n" +
			"downloads files, and doubles as a toolkit for people who test and study servents.\n" +
			"Flags may come before or after the arguments; -- ends the flags. Exit status: 0 done,\n" +
			"1 failed, 2 a usage mistake.",
		UsageText:       "govent COMMAND [ARGUMENTS AND FLAGS]",
		Reader:          e.stdin,
		Writer:          e.stdout,
		ErrWriter:       e.stderr,
		HideHelpCommand: true, // ours is helpCommand: it knows subcommands and exit codes
		HideVersion:     true, // ours is versionFlags: one format for -v, --version and version
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "TOML `FILE` with flag values, one [table] per command (also $GOVENT_CONFIG)", TakesFile: true},
		}, versionFlags()...),
		// Errors are printed once, by run, never by urfave/cli (which
		// would also call os.Exit for some).
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action:         rootAction,
		Commands: []*cli.Command{
			runCommand(e.serve),
			searchCommand(e.lookupEnv),
			getCommand(e.lookupEnv),
			browseCommand(),
			demoCommand(),
			wireCommand(),
			captureCommand(),
			conformCommand(),
			fuzzPeerCommand(),
			netsimCommand(),
			workloadCommand(),
			statusCommand(e.lookupEnv),
			peersCommand(e.lookupEnv),
			sharesCommand(e.lookupEnv),
			transfersCommand(e.lookupEnv),
			topCommand(e),
			configCommand(e.lookupEnv),
			helpCommand(),
			versionCommand(),
		},
	}
	prepareCommands(app, e)
	return app
}
