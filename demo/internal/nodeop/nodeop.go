// Package nodeop runs node-oidc-provider (demo/oidcprovider/provider.mjs) as a
// child process, so tests can talk to a real OpenID Provider rather than to
// our own idea of one.
//
// The provider needs Node.js and the repository's npm dev dependencies
// (npm ci at the repository root). When they are missing Start returns
// ErrNodeModulesMissing or ErrNodeMissing, and the caller decides whether
// that is a skip (a developer machine) or a failure (CI).
package nodeop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/silentauth/silentauth/demo/internal/repo"
)

// ErrNodeModulesMissing means node_modules/oidc-provider is not installed in
// the repository root; `npm ci` there installs it.
var ErrNodeModulesMissing = errors.New("nodeop: node_modules/oidc-provider is missing (run `npm ci` at the repository root)")

// ErrNodeMissing means there is no `node` executable on PATH.
var ErrNodeMissing = errors.New("nodeop: node is not on PATH")

const (
	defaultStartTimeout = 20 * time.Second
	// How long the provider gets to exit after SIGTERM before it is killed.
	stopGrace = 3 * time.Second
	// The start error quotes at most this much of the provider's output: the
	// reason it failed is at the end, and a test log needs no more.
	outputTailSize = 16 << 10
	readyPrefix    = "READY "
	scriptPath     = "demo/oidcprovider/provider.mjs"
)

// Config says how to start the provider. The zero value is usable except
// for AppOrigins, which must name at least one origin.
type Config struct {
	// Host is the issuer's host name: "localhost" (the default) or
	// "127.0.0.1". The provider always listens on 127.0.0.1; the name only
	// changes which site its cookies belong to, which is how tests make the
	// session cookie third-party (app on localhost, provider on 127.0.0.1).
	Host string
	// Port is the port to listen on; 0 picks a free one.
	Port int
	// AppOrigins are the origins of the pages that use the provider, such as
	// "http://localhost:8080". Each gets the client redirect URIs origin+"/"
	// and origin+"/callback" (client "spa"), origin+"/registered-only"
	// (client "spa-strict") and CORS on the token endpoint.
	AppOrigins []string
	// AccessTokenTTL is the access token lifetime, in whole seconds; 0 means
	// 120s, short enough for renewal tests to see a renewal.
	AccessTokenTTL time.Duration
	// Dir is the repository root (where package.json and node_modules are).
	// Empty means: walk up from the working directory to it (repo.Root).
	Dir string
	// Output receives the provider's stdout and stderr, one line per Write.
	// Nil discards it. See LogWriter for testing.TB.
	Output io.Writer
	// StartTimeout bounds the wait for the READY line; 0 means 20s.
	StartTimeout time.Duration
	// ListenPort, when not 0, is where the provider listens instead of the
	// issuer's port: something else (a Gate) answers at the issuer's.
	ListenPort int
	// LogTokens makes the provider print an ACCESS_TOKEN line for every
	// access token it issues (see ParseAccessTokenLine).
	LogTokens bool
}

// Provider is a running node-oidc-provider process.
type Provider struct {
	issuer string
	cmd    *exec.Cmd

	exited  chan struct{} // closed once cmd.Wait has returned
	waitErr error         // cmd.Wait's result, readable after exited

	readers sync.WaitGroup // the goroutines copying stdout and stderr
	pipes   []*os.File     // their read ends, closed if they outlive the process

	stopOnce sync.Once
	stopErr  error
}

// Start runs the provider and returns once it accepts connections.
//
// ctx bounds the provider's whole life, as with exec.CommandContext: when it
// is done the provider is stopped. Call Stop (for tests, from t.Cleanup) to
// stop it earlier and to wait for its output to be flushed.
func Start(ctx context.Context, cfg Config) (*Provider, error) {
	if len(cfg.AppOrigins) == 0 {
		return nil, errors.New("nodeop: Config.AppOrigins needs at least one origin")
	}
	host := cfg.Host
	if host == "" {
		host = "localhost"
	}
	if host != "localhost" && host != "127.0.0.1" {
		return nil, fmt.Errorf("nodeop: Config.Host must be localhost or 127.0.0.1, not %q", host)
	}
	ttl := cfg.AccessTokenTTL
	if ttl == 0 {
		ttl = 120 * time.Second
	}
	if ttl < time.Second || ttl%time.Second != 0 {
		return nil, fmt.Errorf("nodeop: Config.AccessTokenTTL must be whole seconds, not %v", ttl)
	}
	startTimeout := cfg.StartTimeout
	if startTimeout == 0 {
		startTimeout = defaultStartTimeout
	}

	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = repoRoot(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return nil, fmt.Errorf("%w (looked in %s)", ErrNodeModulesMissing, dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNodeMissing, err)
	}

	port := cfg.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	issuer := "http://" + net.JoinHostPort(host, strconv.Itoa(port))

	args := []string{
		filepath.Join(dir, filepath.FromSlash(scriptPath)),
		"--issuer", issuer,
		"--access-token-ttl", strconv.Itoa(int(ttl / time.Second)),
	}
	for _, o := range cfg.AppOrigins {
		args = append(args, "--app-origin", o)
	}
	args = append(args, cfg.hookArgs()...)

	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	// Our own pipes rather than exec's: Start has to read stdout line by line
	// to see READY while also passing every line on to cfg.Output.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("nodeop: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("nodeop: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW

	p := &Provider{
		issuer: issuer,
		cmd:    cmd,
		exited: make(chan struct{}),
		pipes:  []*os.File{outR, errR},
	}
	startedAt := time.Now()
	err = cmd.Start()
	// The child has its own copies of the write ends; ours must go, or the
	// readers would never see EOF when the child exits.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("nodeop: starting %s: %w", node, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	out := &output{dst: cfg.Output}
	ready := make(chan struct{})
	var readyOnce sync.Once
	p.readers.Add(2)
	go p.copyLines(outR, out, func(line string) {
		if line == readyPrefix+issuer {
			readyOnce.Do(func() { close(ready) })
		}
	})
	go p.copyLines(errR, out, nil)

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	var failure error
	select {
	case <-ready:
	case <-p.exited:
		failure = fmt.Errorf("nodeop: provider exited before READY (%v)", p.waitErr)
	case <-timer.C:
		failure = fmt.Errorf("nodeop: provider printed no %q within %v", readyPrefix+issuer, startTimeout)
	case <-ctx.Done():
		failure = fmt.Errorf("nodeop: waiting for the provider: %w", ctx.Err())
	}
	if failure != nil {
		p.Stop()
		return nil, fmt.Errorf("%w; its output:\n%s", failure, out.tail())
	}
	out.log("nodeop: %s ready after %v\n", issuer, time.Since(startedAt).Round(time.Millisecond))

	go func() {
		select {
		case <-ctx.Done():
			p.Stop()
		case <-p.exited:
		}
	}()
	return p, nil
}

// Issuer is the provider's issuer URL, without a trailing slash, such as
// "http://localhost:41234". Discovery is at Issuer()+"/.well-known/openid-configuration".
func (p *Provider) Issuer() string { return p.issuer }

// Stop sends SIGTERM, kills the process if it has not exited 3s later, and
// waits for it and for its output. It is safe to call more than once and
// returns the same result each time: nil for a clean stop, otherwise why not
// (it crashed earlier, or had to be killed).
func (p *Provider) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Provider) stop() error {
	crashed := false
	select {
	case <-p.exited:
		crashed = true
	default:
	}

	killed := false
	if !crashed {
		// ESRCH only means it exited between the check and the signal.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		grace := time.NewTimer(stopGrace)
		select {
		case <-p.exited:
			grace.Stop()
		case <-grace.C:
			_ = p.cmd.Process.Kill()
			killed = true
			<-p.exited
		}
	}

	// Node starts no children, so EOF follows the exit at once; the timeout
	// only guards against something else holding the pipes open.
	flushed := make(chan struct{})
	go func() { p.readers.Wait(); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(2 * time.Second):
		for _, f := range p.pipes {
			f.Close()
		}
		<-flushed
	}

	switch {
	case crashed:
		return fmt.Errorf("nodeop: provider had already exited: %v", p.waitErr)
	case killed:
		return fmt.Errorf("nodeop: provider ignored SIGTERM for %v and was killed", stopGrace)
	case p.waitErr != nil:
		return fmt.Errorf("nodeop: provider exited uncleanly after SIGTERM: %w", p.waitErr)
	}
	return nil
}

// copyLines passes r to out a line at a time, calling seen (if any) with
// each line so Start can spot READY.
func (p *Provider) copyLines(r *os.File, out *output, seen func(string)) {
	defer p.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out.write(line + "\n")
		if seen != nil {
			seen(strings.TrimRight(line, "\r"))
		}
	}
	// A line over 1 MiB ends the scan; drain the rest so the provider never
	// blocks writing to a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// output serialises the two streams into cfg.Output and keeps the last
// outputTailSize bytes for error messages.
type output struct {
	mu   sync.Mutex
	dst  io.Writer
	last []byte
}

func (o *output) write(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = append(o.last, line...)
	if n := len(o.last) - outputTailSize; n > 0 {
		o.last = append(o.last[:0], o.last[n:]...)
	}
	if o.dst != nil {
		_, _ = io.WriteString(o.dst, line)
	}
}

func (o *output) log(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dst != nil {
		fmt.Fprintf(o.dst, format, args...)
	}
}

func (o *output) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.last) == 0 {
		return "(none)"
	}
	return string(o.last)
}

// Logger is the part of testing.TB that LogWriter needs.
type Logger interface {
	Logf(format string, args ...any)
}

// LogWriter returns a Writer that logs each complete line through l.Logf, so
// the provider's output lands in a test's log (and shows only on failure or
// with -v). testing.TB panics on Logf after the test has ended, so stop the
// provider in t.Cleanup, which runs before that.
func LogWriter(l Logger) io.Writer { return &logWriter{l: l} }

type logWriter struct {
	mu      sync.Mutex
	l       Logger
	partial []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.l.Logf("%s", w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

// FreePort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before node binds it; node then exits with "cannot listen",
// which Start reports with the output.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("nodeop: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot is the repository root, where package.json and node_modules live.
func repoRoot() (string, error) {
	dir, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("nodeop: %w; set Config.Dir", err)
	}
	return dir, nil
}
