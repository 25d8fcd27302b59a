package nodeop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hookArgs are the provider.mjs flags for the Config fields that only a
// gated provider uses.
func (c Config) hookArgs() []string {
	var args []string
	if c.ListenPort != 0 {
		args = append(args, "--listen-port", strconv.Itoa(c.ListenPort))
	}
	if c.LogTokens {
		args = append(args, "--log-tokens")
	}
	return args
}

// IssuedToken is one access token as the provider issued it.
type IssuedToken struct {
	Value string    // the opaque token, which is its jti
	Exp   time.Time // when the provider stops accepting it (whole seconds)
	Grant string    // the grant type it was issued for, such as "authorization_code"
	JKT   string    // the DPoP key's thumbprint it is bound to (cnf.jkt), "" for a bearer token
}

const accessTokenPrefix = "ACCESS_TOKEN "

// ParseAccessTokenLine reads a line that Config.LogTokens makes the
// provider print; ok is false for any other line.
func ParseAccessTokenLine(line string) (tok IssuedToken, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(line, "\r"), accessTokenPrefix)
	if !found {
		return IssuedToken{}, false
	}
	var v struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
		Gty string `json:"gty"`
		JKT string `json:"jkt"`
	}
	if err := json.Unmarshal([]byte(rest), &v); err != nil || v.JTI == "" || v.Exp == 0 {
		return IssuedToken{}, false
	}
	return IssuedToken{Value: v.JTI, Exp: time.Unix(v.Exp, 0), Grant: v.Gty, JKT: v.JKT}, true
}

const refreshTokenPrefix = "REFRESH_TOKEN "

// ParseRefreshTokenLine reads a refresh token line that Config.LogTokens
// makes the provider print: the token (its jti) and the DPoP key's
// thumbprint it is bound to ("" when unbound).
func ParseRefreshTokenLine(line string) (token, jkt string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(line, "\r"), refreshTokenPrefix)
	if !found {
		return "", "", false
	}
	var v struct {
		JTI string `json:"jti"`
		JKT string `json:"jkt"`
	}
	if err := json.Unmarshal([]byte(rest), &v); err != nil || v.JTI == "" {
		return "", "", false
	}
	return v.JTI, v.JKT, true
}

// Mode is how a Gate treats requests.
type Mode int

const (
	// Pass forwards everything at once.
	Pass Mode = iota
	// Slow holds each /auth request for Gate.SlowBy before forwarding it: a
	// provider that answers, but later than the client waits.
	Slow
	// Down answers every request with 503 and closes the connection, as a
	// load balancer does when nothing is behind it.
	Down
	// AuthError answers every /auth request with HTTP 500 and an error
	// page (which the silent iframe loads, and which posts nothing); the
	// rest passes.
	AuthError
	// TokenBusy answers every POST /token with 503, Retry-After
	// (TokenBusyRetryAfter) and the CORS headers that let the page read
	// both; the rest passes.
	TokenBusy
)

// TokenBusyRetryAfter is the Retry-After, in seconds, of TokenBusy's 503.
const TokenBusyRetryAfter = 20

func (m Mode) String() string {
	switch m {
	case Slow:
		return "slow"
	case Down:
		return "down"
	case AuthError:
		return "auth_500"
	case TokenBusy:
		return "token_503"
	}
	return "pass"
}

// Hit is one request that reached the Gate.
type Hit struct {
	At         time.Time
	Method     string
	Path       string
	PromptNone bool   // /auth with prompt=none
	GrantType  string // /token's grant_type
	Mode       Mode   // the Gate's mode when it arrived
	Status     int    // what the browser got (0 if it went away first)
}

// Gate stands at the issuer's address in front of a provider listening
// elsewhere (Config.ListenPort): it forwards requests, records each one
// and every access token the provider issues, and can slow the provider
// down or take it away (SetMode) while its sessions live on.
type Gate struct {
	rp  *httputil.ReverseProxy
	srv *http.Server

	mu     sync.Mutex
	mode   Mode
	slowBy time.Duration
	hits   []Hit
	tokens map[string]IssuedToken
	writer io.Writer // the caller's Config.Output
}

// StartGated starts the provider behind a Gate: the Gate listens at the
// issuer's port on 127.0.0.1 and the provider on another free port, with
// LogTokens on. Stop the provider, then Close the Gate.
func StartGated(ctx context.Context, cfg Config) (*Provider, *Gate, error) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(cfg.Port))
	if err != nil {
		return nil, nil, fmt.Errorf("nodeop: gate: %w", err)
	}
	behind, err := FreePort()
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	g := &Gate{tokens: map[string]IssuedToken{}, writer: cfg.Output, slowBy: 7 * time.Second}
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	cfg.ListenPort = behind
	cfg.LogTokens = true
	cfg.Output = LogWriter(logFunc(g.providerLine))
	p, err := Start(ctx, cfg)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	g.rp = ProxyTo(behind)
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(l) }()
	return p, g, nil
}

// ProxyTo is a reverse proxy, at the issuer's address, to a provider that
// listens on 127.0.0.1:port (Config.ListenPort). The provider builds its
// URLs from the issuer, so the Host the browser used goes along.
func ProxyTo(port int) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
}

// Close stops the Gate's server.
func (g *Gate) Close() error { return g.srv.Close() }

// SetMode switches the Gate; Slow holds /auth requests for slowBy (0 keeps
// the last value, 7 s at first).
func (g *Gate) SetMode(m Mode, slowBy time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode = m
	if slowBy > 0 {
		g.slowBy = slowBy
	}
}

// Hits returns the requests so far.
func (g *Gate) Hits() []Hit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Hit(nil), g.hits...)
}

// Tokens returns the access tokens issued so far, by value.
func (g *Gate) Tokens() map[string]IssuedToken {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]IssuedToken, len(g.tokens))
	for k, v := range g.tokens {
		out[k] = v
	}
	return out
}

func (g *Gate) providerLine(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if tok, ok := ParseAccessTokenLine(line); ok {
		g.mu.Lock()
		g.tokens[tok.Value] = tok
		g.mu.Unlock()
		return
	}
	if g.writer != nil {
		_, _ = io.WriteString(g.writer, line+"\n")
	}
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := Hit{At: time.Now(), Method: r.Method, Path: r.URL.Path}
	if r.URL.Path == "/auth" {
		h.PromptNone = r.URL.Query().Get("prompt") == "none"
	}
	if r.URL.Path == "/token" && r.Method == http.MethodPost {
		h.GrantType = PeekForm(r).Get("grant_type")
	}
	g.mu.Lock()
	h.Mode = g.mode
	slowBy := g.slowBy
	i := len(g.hits)
	g.hits = append(g.hits, h)
	g.mu.Unlock()

	sw := &StatusWriter{ResponseWriter: w}
	defer func() {
		g.mu.Lock()
		g.hits[i].Status = sw.Status
		g.mu.Unlock()
	}()
	switch h.Mode {
	case Down:
		w.Header().Set("Connection", "close")
		http.Error(sw, "503 the provider is down (soak fault)", http.StatusServiceUnavailable)
		return
	case AuthError:
		if r.URL.Path == "/auth" {
			http.Error(sw, "500 the provider failed (outage fault)", http.StatusInternalServerError)
			return
		}
	case TokenBusy:
		if r.URL.Path == "/token" && r.Method == http.MethodPost {
			if o := r.Header.Get("Origin"); o != "" {
				w.Header().Set("Access-Control-Allow-Origin", o)
				w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
			}
			w.Header().Set("Retry-After", strconv.Itoa(TokenBusyRetryAfter))
			w.Header().Set("Content-Type", "application/json")
			sw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(sw, `{"error":"temporarily_unavailable","error_description":"the provider is busy (outage fault)"}`)
			return
		}
	case Slow:
		if r.URL.Path == "/auth" {
			select {
			case <-time.After(slowBy):
			case <-r.Context().Done():
				return
			}
		}
	}
	g.rp.ServeHTTP(sw, r)
}

// PeekForm is the form in r's body (its first MiB), which it puts back for
// the handler behind a proxy or recorder to read.
func PeekForm(r *http.Request) url.Values {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	return form
}

// StatusWriter records the status a handler answered with (200 when it
// wrote a body without one), for proxies and recorders in front of a server.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *StatusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type logFunc func(format string, args ...any)

func (f logFunc) Logf(format string, args ...any) { f(format, args...) }
