// Command mutants checks that the host tests pin the engine's behaviour:
// it applies each mutation below, one at a time, to a scratch copy of the
// SDK module, runs the checksession tests there, and reports each mutation
// as killed (a test failed), survived (every test passed: a behaviour no
// test pins), broken (it did not build) or not applicable (its pattern no
// longer matches exactly once: update the mutation after a refactor).
//
//	go run ./internal/mutants            # all, from the repository root
//	go run ./internal/mutants -list
//	go run ./internal/mutants backup-tick run-gap
//
// It exits non-zero unless every mutation is killed. make mutants runs it;
// make test does not (it takes a few minutes). When you add behaviour, add
// the mutation that breaks it here, and the test that kills it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// mutation changes one behaviour. find must match exactly once across the
// non-test Go files of dir, so that an edit nearby either leaves it working
// or makes it fail loudly as not applicable, never silently mutate nothing.
type mutation struct {
	name    string
	what    string // the behaviour it breaks
	dir     string // the package directory, from the module root
	find    *regexp.Regexp
	replace string // with $1-style references to find's groups
}

var mutations = []mutation{
	{
		name:    "backup-tick",
		what:    "the renewal loop's backup tick is 15 s, not 5 s",
		dir:     "checksession",
		find:    regexp.MustCompile(`(?m)^(\s*backupTick\s*(?:time\.Duration\s*)?=\s*)15 \* time\.Second\b`),
		replace: "${1}5 * time.Second",
	},
	{
		name:    "run-gap",
		what:    "a loop whose run changed nothing waits runGap before the next",
		dir:     "checksession",
		find:    regexp.MustCompile(`(?m)^(\s*runGap\s*(?:time\.Duration\s*)?=\s*)[^/\n]*?(\s*(?://.*)?)$`),
		replace: "${1}0${2}",
	},
	{
		name:    "renew-error-without-auto-renew",
		what:    "renew_error is emitted only while auto-renew is on",
		dir:     "checksession",
		find:    regexp.MustCompile(`(?m)^(\s*retry\s*:?=[^\n]*?)\br\.enabled\b`),
		replace: "${1}true",
	},
	{
		name:    "adopt-older-shared-result",
		what:    "a shared result older than the cached one is not adopted",
		dir:     "checksession",
		find:    regexp.MustCompile(`(case\s+)(cur != nil && res\.ExpiresAt\.Before\(cur\.ExpiresAt\)\s*:)`),
		replace: "${1}false && ${2}",
	},
	{
		name:    "unbounded-tab-messages",
		what:    "a tab message larger than maxTabMessageBytes is ignored",
		dir:     "checksession",
		find:    regexp.MustCompile(`len\((\w+)\) (>=?) maxTabMessageBytes\b`),
		replace: "false && len(${1}) ${2} maxTabMessageBytes",
	},
	{
		name:    "wake-up-without-auto-renew",
		what:    "a wake-up moves the renewal schedule only while auto-renew is on",
		dir:     "checksession",
		find:    regexp.MustCompile(`(?m)^(\s*if\b[^\n]*?)!r\.enabled\b([^\n]*\br\.state != stalled\b)`),
		replace: "${1}false${2}",
	},
	{
		name:    "unaddressed-handover",
		what:    "a tab adopts only a refresh-token hand-over addressed to its own nonce",
		dir:     "checksession",
		find:    regexp.MustCompile(`(asked\s*:=\s*)h\.awaiting != "" && m\.To == h\.awaiting`),
		replace: "${1}true",
	},
	{
		name:    "handover-on-request",
		what:    "the holder hands the refresh token over only when it leaves, never when asked",
		dir:     "checksession",
		find:    regexp.MustCompile(`(case kindRenewalWanted:\s*\n)`),
		replace: "${1}g.refresh.NoteHeir(\"asker\"); g.handover.handOver()\n",
	},
	{
		name:    "asker-ignores-holders-failure",
		what:    "a tab that asked the refresh-token holder takes the holder's failed grant (a 503) as its answer, not the silent iframe",
		dir:     "checksession",
		find:    regexp.MustCompile(`(if told == toldBefore)( \|\| shared == nil \{)`),
		replace: "${1} || true${2}",
	},
	{
		name:    "asker-gives-up-while-verifying",
		what:    "a tab that asked its group waits on while it verifies a share, instead of trying the silent iframe",
		dir:     "checksession",
		find:    regexp.MustCompile(`(if !verifying && )(ga\.verifyingShare\(\) \{)`),
		replace: "${1}false && ${2}",
	},
	{
		name:    "overtaken-failure-ends-session",
		what:    "a silent request's login_required does not end a session a newer share from the group carries on",
		dir:     "checksession",
		find:    regexp.MustCompile(`(if )(grouped && EndsSession\(err\) \{)`),
		replace: "${1}false && ${2}",
	},
}

func main() {
	list := flag.Bool("list", false, "list the mutations and exit")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on one test run")
	verbose := flag.Bool("v", false, "print the test output of mutations that survive or break")
	flag.Parse()
	if *list {
		for _, m := range mutations {
			fmt.Printf("%-32s %s\n", m.name, m.what)
		}
		return
	}
	chosen, err := choose(flag.Args())
	if err != nil {
		fail(err)
	}
	root, err := moduleRoot()
	if err != nil {
		fail(err)
	}
	scratch, err := os.MkdirTemp("", "silentauth-mutants-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(scratch)
	if err := copyModule(root, scratch); err != nil {
		fail(err)
	}

	fmt.Println("baseline: the tests must pass unmutated")
	if out, err := runTests(scratch, *timeout); err != nil {
		fmt.Print(out)
		fail(fmt.Errorf("baseline: %v", err))
	}
	outcomes := map[string]int{}
	for _, m := range chosen {
		outcome, detail := run(m, scratch, *timeout)
		outcomes[outcome]++
		fmt.Printf("%-16s %-32s %s\n", outcome, m.name, m.what)
		if outcome == "killed" {
			fmt.Println("    by " + strings.Join(failedTests(detail), ", "))
		}
		if detail != "" && (*verbose && outcome != "killed" || outcome == "not applicable") {
			fmt.Println(indent(detail))
		}
	}
	fmt.Printf("\n%d mutations: %d killed, %d survived, %d broken, %d not applicable\n", len(chosen),
		outcomes["killed"], outcomes["survived"], outcomes["broken"], outcomes["not applicable"])
	if outcomes["killed"] != len(chosen) {
		os.Exit(1)
	}
}

// run applies m in scratch, runs the tests and puts the file back.
func run(m mutation, scratch string, timeout time.Duration) (outcome, detail string) {
	file, src, err := locate(m, scratch)
	if err != nil {
		return "not applicable", err.Error()
	}
	mutated := m.find.ReplaceAllString(src, m.replace)
	if mutated == src {
		return "not applicable", "the replacement changes nothing"
	}
	if err := os.WriteFile(file, []byte(mutated), 0o644); err != nil {
		fail(err)
	}
	defer func() {
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			fail(err)
		}
	}()
	out, err := runTests(scratch, timeout)
	switch {
	case err == nil:
		return "survived", out
	case strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]"):
		return "broken", out
	default:
		return "killed", out
	}
}

// locate finds the one non-test Go file of m.dir where m.find matches, and
// checks that it matches once in all.
func locate(m mutation, scratch string) (file, src string, err error) {
	paths, err := filepath.Glob(filepath.Join(scratch, m.dir, "*.go"))
	if err != nil {
		return "", "", err
	}
	matches := 0
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", "", err
		}
		if n := len(m.find.FindAllStringIndex(string(b), -1)); n > 0 {
			matches += n
			file, src = p, string(b)
		}
	}
	if matches != 1 {
		return "", "", fmt.Errorf("mutation not applicable: %s matches %d times in %s/*.go, want once", m.find, matches, m.dir)
	}
	return file, src, nil
}

// runTests runs the checksession tests in the scratch module, alone (no
// workspace), vet off: a mutation may read oddly without being wrong.
func runTests(dir string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-vet=off", "-timeout", timeout.String(), "./checksession/...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyModule copies the SDK module (go.mod and its packages, not the demo
// module, node_modules, dist or .git) from root to dst.
func copyModule(root, dst string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || slices.Contains([]string{"demo", "node_modules", "dist", "docs"}, rel)) {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// moduleRoot is the SDK module's root: the directory of `go env GOMOD`
// with the workspace off, from where the command runs.
func moduleRoot() (string, error) {
	cmd := exec.Command("go", "env", "GOMOD")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run from the repository root")
	}
	root := filepath.Dir(gomod)
	b, err := os.ReadFile(gomod)
	if err != nil || !strings.Contains(string(b), "module github.com/silentauth/silentauth\n") {
		return "", fmt.Errorf("%s is not the SDK module's go.mod: run from the repository root", gomod)
	}
	return root, nil
}

func choose(names []string) ([]mutation, error) {
	if len(names) == 0 {
		return mutations, nil
	}
	var out []mutation
	for _, n := range names {
		i := slices.IndexFunc(mutations, func(m mutation) bool { return m.name == n })
		if i < 0 {
			return nil, fmt.Errorf("no mutation %q (see -list)", n)
		}
		out = append(out, mutations[i])
	}
	return out, nil
}

var failLine = regexp.MustCompile(`(?m)^--- FAIL: (\S+)`)

// failedTests names the top-level tests that failed in go test's output.
func failedTests(out string) []string {
	var names []string
	for _, m := range failLine.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return []string{"a panic or timeout (see -v)"}
	}
	return names
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], fmt.Sprintf("… (%d more lines)", len(lines)-40))
	}
	return "    " + strings.Join(lines, "\n    ")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutants:", err)
	os.Exit(2)
}
