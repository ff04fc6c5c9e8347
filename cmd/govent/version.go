package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v3"
)

// buildVersion is set by the linker (-X main.buildVersion=...) for releases.
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0.1.0-dev"
}

// printVersion writes the one version line that -v, --version and
// `govent version` all print.
func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "govent %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

// versionFlags are the root's -v and --version (rootAction prints).
func versionFlags() []cli.Flag {
	return []cli.Flag{&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version", Local: true}}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(_ context.Context, c *cli.Command) error {
			if err := wantArgs(c, 0, ""); err != nil {
				return err
			}
			return printVersion(c.Root().Writer)
		},
	}
}
