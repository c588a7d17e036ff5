// Command marcador is Marcador's one binary: the dialer and IVR server and the
// operator's tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"sort"
	"syscall"

	// Compliance windows need every IANA zone, whatever the host has installed.
	_ "time/tzdata"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

// command is one subcommand; run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands are the subcommands this binary was built with.
func commands() map[string]command {
	cmds := map[string]command{
		"serve":      {"run the node: API, metrics and health, the attempt writer, the campaign runner, the callback line and texting", runServe},
		"migrate":    {"create or upgrade the ClickHouse schema", runMigrate},
		"version":    {"print the version", runVersion},
		"compliance": {"'compliance explain': may a debtor be contacted now, by which rule, and when next", runCompliance},
		"call":       {"place one test call through a trunk: play prompts, collect digits, record the attempt", runCall},
		"redis":      {"'redis status|restore|accept-empty': after Redis lost its data, rebuild what ClickHouse keeps and let work resume", runRedis},
		"dnc":        {"'dnc rebuild': restore the do-not-contact lists in Redis from ClickHouse", runDNC},
		"sim":        {"simulate a shift of a campaign to compare pacers (progressive, vicidial, predictive)", runSim},
		"amd":        {"classify WAV recordings of answered calls: human, machine (and its beep), notsure, hangup", runAMD},
		"report":     {"the KPIs (contact, right-party, promise, promise-kept, recovery, abandon, agents, texts, costs) as a table, CSV or JSON", runReport},
	}
	maps.Copy(cmds, labCommands())
	return cmds
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: marcador <command> [flags]\n\ncommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\n'marcador <command> -h' documents each command's flags.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "marcador: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "marcador %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// loadConfig reads the config file (or defaults) with the process environment.
func loadConfig(path string) (config.Config, error) { return config.Load(path, os.Environ()) }

// configFlags is newFlags with -config (help says what the command reads
// from it); parse parses args, then loads the config -config names.
func configFlags(name, synopsis, help string, stderr io.Writer) (fs *flag.FlagSet, parse func(args []string) (config.Config, error)) {
	fs = newFlags(name, synopsis, stderr)
	path := fs.String("config", "", help)
	return fs, func(args []string) (config.Config, error) {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, err
		}
		return loadConfig(*path)
	}
}

// newFlags returns a FlagSet whose -h prints the command's synopsis and flags.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("marcador "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: marcador %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
