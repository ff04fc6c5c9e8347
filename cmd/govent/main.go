// Command govent is the Govent servent and its toolkit: join a Gnutella
// network, search and download, decode captures and descriptor streams, and
// run a local demo network.
//
// This is the only package that reads os.Args and the environment or calls
// os.Exit; everything it does is in newApp so tests can run it in-process.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries an exit code through urfave/cli without printing twice.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes the CLI and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "govent: %v\n", err)
		if ee, ok := err.(*exitError); ok {
			return ee.code
		}
		return 1
	}
	return 0
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "govent",
		Usage: "a Gnutella servent and toolkit",
		Description: "Govent joins a Gnutella network (0.6 handshake, ultrapeer or leaf), shares and\n" +
			"downloads files, and doubles as a toolkit for people who test and study servents.",
		Version:         version(),
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			versionCommand(),
			runCommand(),
			searchCommand(),
			getCommand(),
			demoCommand(),
			wireCommand(),
			captureCommand(),
			probeCommand(),
		},
	}
}
