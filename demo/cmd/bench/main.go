// Command bench runs silentauth's benchmarks (make bench and its bench-*
// targets): each prints its tables and writes them under <dist>/bench/.
// Figures only: no benchmark asserts a timing. It needs the SDK built
// (make build) and Chromium (CHROMIUM names it when it is not on the PATH).
//
//	go run ./demo/cmd/bench [-quick] [-baseline DIR] [-dist DIR] [-v] BENCH...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/demo/bench"
	"github.com/silentauth/silentauth/demo/internal/chrome"
)

// benchmark is one benchmark of the program; inAll says whether "all"
// runs it.
type benchmark struct {
	name, what string
	run        func(*bench.Scope, bench.Options)
	inAll      bool
}

// benches are the benchmarks by name, in the order "all" runs them.
var benches = []benchmark{
	{"renewal", "silent renewal latency and phases, time to ready, sizes, ID-token validation, memory, CPU profile", bench.Renewal, true},
	{"firsttoken", "first token from navigation start, cold and warm, on emulated networks, both placements", bench.FirstToken, true},
	{"anonymous", "the first answer for a visitor who never signed in", bench.Anonymous, true},
	{"dpop", "DPoP renewal through the iframe and the refresh token", bench.DPoP, true},
	{"multitab", "memory, long tasks and first token of 4 tabs, both placements and auth0-spa-js", bench.MultiTab, true},
	{"soak", "the renewal soak: 3 tabs, 8 s tokens, without and with faults", bench.Soak, true},
	{"outage", "3 tabs through an outage of /authorize, then of the token endpoint", bench.Outage, true},
	{"soak-refresh", "3 tabs renewing by refresh token for 5 minutes, the provider's cookie third-party", bench.SoakRefresh, false},
}

func main() {
	// Each browser a process of its own, as when the figures were first
	// taken: the memory rows sum a browser's renderer processes.
	chrome.ProcessPerBrowser()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// errUsage is a command line that names no benchmark or an unknown one.
var errUsage = errors.New("usage")

// config is the command line, read.
type config struct {
	opts    bench.Options
	dist    string
	verbose bool
	names   []string
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.opts.Quick, "quick", false, "smaller counts and shorter runs, for a smoke run")
	fs.StringVar(&c.opts.Baseline, "baseline", "", "another build's dist/ to run beside this one (firsttoken, outage)")
	fs.StringVar(&c.dist, "dist", envOr("SILENTAUTH_DIST", "dist"), "the built SDK to measure")
	fs.BoolVar(&c.verbose, "v", false, "print every page's console and each sample")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags] BENCH...\n\nbenchmarks (\"all\" runs those marked *):\n")
		for _, b := range benches {
			mark := " "
			if b.inAll {
				mark = "*"
			}
			fmt.Fprintf(stderr, "  %s %-13s %s\n", mark, b.name, b.what)
		}
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return c, errUsage
	}
	for _, a := range fs.Args() {
		if a == "all" {
			for _, b := range benches {
				if b.inAll && !slices.Contains(c.names, b.name) {
					c.names = append(c.names, b.name)
				}
			}
			continue
		}
		if !slices.ContainsFunc(benches, func(b benchmark) bool {
			return b.name == a
		}) {
			fs.Usage()
			return c, fmt.Errorf("%w: no benchmark %q", errUsage, a)
		}
		if !slices.Contains(c.names, a) {
			c.names = append(c.names, a)
		}
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	dist, err := filepath.Abs(c.dist)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dist, "silentauth.wasm")); err != nil {
		return fmt.Errorf("the SDK is not built in %s (run make build): %v", dist, err)
	}
	// The shared helpers ask testing.Verbose() whether to log a page's
	// console, which wants the testing flags registered and parsed.
	testing.Init()
	if c.verbose {
		_ = flag.Set("test.v", "true")
	}
	_ = flag.CommandLine.Parse(nil)
	// The shared helpers (e2eenv) find the build here.
	if err := os.Setenv("SILENTAUTH_DIST", dist); err != nil {
		return err
	}
	if c.opts.Baseline != "" {
		if c.opts.Baseline, err = filepath.Abs(c.opts.Baseline); err != nil {
			return err
		}
	}
	var failed []string
	for _, name := range c.names {
		i := slices.IndexFunc(benches, func(b benchmark) bool {
			return b.name == name
		})
		fmt.Fprintf(stderr, "== bench %s\n", name)
		if err := bench.RunScope(name, c.verbose, stderr, func(s *bench.Scope) { benches[i].run(s, c.opts) }); err != nil {
			fmt.Fprintf(stderr, "== bench %s failed: %v\n", name, err)
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}
