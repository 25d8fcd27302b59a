package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Scope is the testing.TB a benchmark runs under in the bench program
// (demo/cmd/bench): the shared helpers (e2eenv, chrome, soak) take a
// testing.TB for their failures and cleanups, and a benchmark is a program,
// not a test. Fatal ends the benchmark's goroutine as testing does; its
// cleanups then run, last registered first.
type Scope struct {
	// testing.TB is nil: it is there for the interface's unexported
	// method only, which nothing outside package testing calls. Every
	// exported method is Scope's own.
	testing.TB

	name    string
	verbose bool
	log     io.Writer
	ctx     context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	failed   bool
	skipped  bool
	msgs     []string
	cleanups []func()
}

// RunScope runs f under a new Scope named name, in a goroutine of its own
// (so that Fatal may end it), then runs its cleanups. It returns an error
// with what failed, or nil. Log lines (Logf) go to w when verbose; failures
// always do.
func RunScope(name string, verbose bool, w io.Writer, f func(*Scope)) error {
	s := newScope(name, verbose, w)
	s.run(f)
	if s.Failed() {
		return fmt.Errorf("%s: %s", name, strings.Join(s.msgs, "; "))
	}
	return nil
}

func newScope(name string, verbose bool, w io.Writer) *Scope {
	ctx, cancel := context.WithCancel(context.Background())
	return &Scope{name: name, verbose: verbose, log: w, ctx: ctx, cancel: cancel}
}

func (s *Scope) run(f func(*Scope)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(s)
	}()
	<-done
	s.cancel()
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		c := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		c()
	}
}

// Run runs f under a child scope named s's name/name, whose cleanups run
// when f ends; a failure there fails s too. It reports whether f passed.
func (s *Scope) Run(name string, f func(*Scope)) bool {
	c := newScope(s.name+"/"+name, s.verbose, s.log)
	c.run(f)
	if c.Failed() {
		s.mu.Lock()
		s.failed = true
		s.msgs = append(s.msgs, c.msgs...)
		s.mu.Unlock()
		return false
	}
	return true
}

func (s *Scope) print(msg string) {
	if s.log != nil {
		fmt.Fprintf(s.log, "    %s: %s\n", s.name, msg)
	}
}

// Log and Logf print only when verbose: they carry the browser's console.
func (s *Scope) Log(args ...any) { s.Logf("%s", fmt.Sprintln(args...)) }
func (s *Scope) Logf(format string, args ...any) {
	if s.verbose {
		s.print(strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
	}
}

func (s *Scope) Error(args ...any) { s.Errorf("%s", strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }
func (s *Scope) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.print(msg)
	s.mu.Lock()
	s.failed = true
	s.msgs = append(s.msgs, msg)
	s.mu.Unlock()
}

func (s *Scope) Fail() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// FailNow ends the calling goroutine, which must be the benchmark's.
func (s *Scope) FailNow() {
	s.Fail()
	runtime.Goexit()
}

func (s *Scope) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *Scope) Fatal(args ...any) { s.Error(args...); runtime.Goexit() }
func (s *Scope) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	runtime.Goexit()
}

func (s *Scope) Skip(args ...any) { s.Log(args...); s.SkipNow() }
func (s *Scope) Skipf(format string, args ...any) {
	s.Logf(format, args...)
	s.SkipNow()
}

// SkipNow ends the benchmark without failing it.
func (s *Scope) SkipNow() {
	s.mu.Lock()
	s.skipped = true
	s.mu.Unlock()
	runtime.Goexit()
}

func (s *Scope) Skipped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

func (s *Scope) Helper()      {}
func (s *Scope) Name() string { return s.name }

func (s *Scope) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

// Setenv sets key until the scope ends.
func (s *Scope) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		s.Fatalf("setenv %s: %v", key, err)
	}
	s.Cleanup(func() {
		if had {
			_ = os.Setenv(key, old)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

// Chdir changes the working directory until the scope ends.
func (s *Scope) Chdir(dir string) {
	old, err := os.Getwd()
	if err != nil {
		s.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { _ = os.Chdir(old) })
}

// TempDir is a new directory, removed when the scope ends.
func (s *Scope) TempDir() string {
	dir, err := os.MkdirTemp("", "silentauth-bench-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (s *Scope) ArtifactDir() string              { return s.TempDir() }
func (s *Scope) Attr(key, value string)           { s.Logf("%s=%s", key, value) }
func (s *Scope) Context() context.Context         { return s.ctx }
func (s *Scope) Output() io.Writer                { return scopeWriter{s} }
func (w scopeWriter) Write(p []byte) (int, error) { w.s.Logf("%s", p); return len(p), nil }

type scopeWriter struct{ s *Scope }

// Progressf says where a long benchmark is, always (not only when verbose).
func (s *Scope) Progressf(format string, args ...any) { s.print(fmt.Sprintf(format, args...)) }

// Options are the bench program's flags, as every benchmark reads them.
type Options struct {
	// Quick shrinks the counts and lengths, for a smoke run.
	Quick bool
	// Baseline is another build's dist/ (an earlier commit's, say), run
	// beside this one where a benchmark supports it (firsttoken, outage).
	Baseline string
}

// count is full, or quick for a smoke run.
func (o Options) count(full, quick int) int {
	if o.Quick {
		return quick
	}
	return full
}
