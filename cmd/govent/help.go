package main

import (
	"context"

	"github.com/urfave/cli/v3"
)

// helpCommand is `govent help [COMMAND [SUBCOMMAND]]`: the same page as
// `govent COMMAND --help`, and a usage error (exit 2, with a suggestion)
// for a command that does not exist.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the commands, or one command's arguments and flags",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(ctx context.Context, c *cli.Command) error {
			target := c.Root()
			for _, name := range c.Args().Slice() {
				next := target.Command(name)
				if next == nil || next.Hidden {
					return unknownCommand(target, name)
				}
				target = next
			}
			switch {
			case target == c.Root():
				return cli.ShowRootCommandHelp(target)
			case len(target.Commands) > 0:
				return cli.ShowSubcommandHelp(target)
			}
			return cli.ShowCommandHelp(ctx, target.Lineage()[1], target.Name)
		},
	}
}
