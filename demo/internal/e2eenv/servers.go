package e2eenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// CreateClientJS is the expression that creates a client with the given
// options (each a JS object literal member, e.g. `debug: true`; empty
// ones are left out).
func CreateClientJS(opts ...string) string {
	var kept []string
	for _, o := range opts {
		if o != "" {
			kept = append(kept, o)
		}
	}
	return "silentauth.createClient({" + strings.Join(kept, ", ") + "})"
}

// The login forms of the two kinds of authorization server: a condition
// that is true on the form, and a script that fills it in for a user and
// submits it.
const (
	TenantLoginPage   = `location.pathname === "/u/login" && document.querySelector("input[name=password]")`
	ProviderLoginPage = `location.pathname.startsWith("/interaction/") && document.querySelector('form[action*="/interaction/"] input[name="login"]')`
)

// TenantLoginForm logs email in on the dev tenant's form.
func TenantLoginForm(email string) string {
	return fmt.Sprintf(`(() => {
			const f = document.querySelector("form");
			f.querySelector("input[name=username]").value = %q;
			f.querySelector("input[name=password]").value = %q;
			(f.querySelector("button[type=submit]") || f.querySelector("button")).click();
			return true })()`, email, devtenant.DefaultPassword)
}

// ProviderLoginForm logs user in on node-oidc-provider's built-in form
// (any password will do).
func ProviderLoginForm(user string) string {
	return fmt.Sprintf(`(() => {
			const f = document.querySelector('form[action*="/interaction/"]');
			f.querySelector('input[name="login"]').value = %q;
			f.querySelector('input[name="password"]').value = "any password";
			f.querySelector('button[type="submit"].login-submit').click();
			return true })()`, user)
}

// Hit is one request that reached a server, as a Recorder saw it.
type Hit struct {
	At         time.Time
	Method     string
	Path       string
	PromptNone bool
	DPoPJKT    string // /authorize's dpop_jkt
	Proof      bool   // the request carried a DPoP header
	Auth       string // the Authorization header's scheme
	Grant      string // a token request's grant_type
	Status     int
	Error      string // a token request's error code
	TokenType  string // a token answer's token_type
	Access     string // the access token an answer carried
	RefreshIn  string // the refresh token a grant presented
	RefreshOut string // the refresh token an answer carried
}

// Recorder stands in front of a server and records every request; token
// requests with their grant and the answer's fields.
type Recorder struct {
	next http.Handler
	mu   sync.Mutex
	hits []Hit
}

func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h := Hit{At: time.Now(), Method: r.Method, Path: r.URL.Path, PromptNone: q.Get("prompt") == "none", DPoPJKT: q.Get("dpop_jkt"),
		Proof: r.Header.Get("DPoP") != ""}
	h.Auth, _, _ = strings.Cut(r.Header.Get("Authorization"), " ")
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
		sw := &nodeop.StatusWriter{ResponseWriter: w}
		rec.next.ServeHTTP(sw, r)
		h.Status = sw.Status
		rec.add(h)
		return
	}
	form := nodeop.PeekForm(r)
	h.Grant, h.RefreshIn = form.Get("grant_type"), form.Get("refresh_token")
	bw := &bufferWriter{header: http.Header{}}
	rec.next.ServeHTTP(bw, r)
	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	var answer struct {
		Error        string `json:"error"`
		TokenType    string `json:"token_type"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(bw.body.Bytes(), &answer)
	h.Status, h.Error, h.TokenType, h.Access, h.RefreshOut = bw.status, answer.Error, answer.TokenType, answer.AccessToken, answer.RefreshToken
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(bw.status)
	_, _ = w.Write(bw.body.Bytes())
	rec.add(h)
}

func (rec *Recorder) add(h Hit) {
	rec.mu.Lock()
	rec.hits = append(rec.hits, h)
	rec.mu.Unlock()
}

// Since is the requests recorded at or after mark i.
func (rec *Recorder) Since(i int) []Hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Hit(nil), rec.hits[min(i, len(rec.hits)):]...)
}

// Mark is how many requests were recorded so far: a mark for Since.
func (rec *Recorder) Mark() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.hits)
}

// CountSince counts the requests recorded at or after mark i.
func (rec *Recorder) CountSince(i int) Counts { return Count(rec.Since(i)) }

type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// Counts sums up requests.
type Counts struct {
	Authorize     int // interactive and prompt=none
	PromptNone    int
	RefreshGrants int
	Refused       int // refresh grants answered with an error
	InvalidGrant  int
	CodeExchanges int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d /authorize (%d prompt=none), %d code exchanges, %d refresh grants (%d refused, %d invalid_grant)",
		c.Authorize, c.PromptNone, c.CodeExchanges, c.RefreshGrants, c.Refused, c.InvalidGrant)
}

// Count sums up hits.
func Count(hits []Hit) Counts {
	var c Counts
	for _, h := range hits {
		switch {
		case h.Path == "/authorize" || h.Path == "/auth":
			c.Authorize++
			if h.PromptNone {
				c.PromptNone++
			}
		case h.Grant == "refresh_token":
			c.RefreshGrants++
			if h.Status != http.StatusOK {
				c.Refused++
			}
			if h.Error == "invalid_grant" {
				c.InvalidGrant++
			}
		case h.Grant == "authorization_code":
			c.CodeExchanges++
		}
	}
	return c
}

// The two kinds of authorization server a Server can be.
const (
	KindTenant   = "devtenant"
	KindProvider = "node-oidc-provider"
)

// ServerOptions say how to start a Server.
type ServerOptions struct {
	// TokenLifetime is the access tokens' lifetime.
	TokenLifetime time.Duration
	// Host is the server's host: "localhost" (default, the app's site) or
	// "127.0.0.1" (another site, so its cookies stay out of the iframe).
	Host string
	// LogTokens makes node-oidc-provider log each token it issues with its
	// DPoP key's thumbprint (Server.TokenJKT).
	LogTokens bool
}

// Server is one authorization server of either kind behind a Recorder,
// the app on localhost that uses it, and a browser.
type Server struct {
	Name     string // KindTenant or KindProvider
	Issuer   string
	AppURL   string
	PagePath string // the test page, a registered redirect URI
	Browser  *chrome.Browser
	Rec      *Recorder
	// AppMux serves the app at "/"; a test may add paths on its origin.
	AppMux *http.ServeMux
	// ClientDefaults are options every ClientJS client gets.
	ClientDefaults string
	// loginPage is true on the server's login form; form fills it in and submits it.
	loginPage, form string

	mu  sync.Mutex
	jkt map[string]string // LogTokens: each token's DPoP key thumbprint
}

// EachServer runs f against a Server of each kind, in parallel subtests
// named for the kind.
func EachServer(t *testing.T, o ServerOptions, f func(t *testing.T, s *Server)) {
	kinds := []struct {
		name  string
		start func(*testing.T, ServerOptions) *Server
	}{{KindTenant, StartTenantServer}, {KindProvider, StartProviderServer}}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f(t, k.start(t, o))
		})
	}
}

// StartTenantServer starts the dev tenant (e2eenv.Start) behind a Recorder.
func StartTenantServer(t *testing.T, o ServerOptions) *Server {
	rec := &Recorder{}
	mux := http.NewServeMux()
	env := Start(t, Options{TokenLifetime: o.TokenLifetime, TenantHost: o.Host,
		TenantMiddleware: func(h http.Handler) http.Handler { rec.next = h; return rec },
		AppMiddleware:    func(h http.Handler) http.Handler { mux.Handle("/", h); return mux }})
	return &Server{
		Name: KindTenant, Issuer: env.TenantURL, AppURL: env.AppURL, PagePath: TestPagePath,
		Browser: env.Browser, Rec: rec, AppMux: mux,
		loginPage: TenantLoginPage, form: TenantLoginForm("demo@example.com"),
	}
}

// StartProviderServer runs node-oidc-provider behind a Recorder at the
// issuer's address, and the app with the test page at /callback, a
// redirect URI provider.mjs registers.
func StartProviderServer(t *testing.T, o ServerOptions) *Server {
	dist := DistDir(t)
	appLn, appURL := Listen(t, "localhost")
	recLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	behindPort, err := nodeop.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Name: KindProvider, AppURL: appURL, PagePath: "/callback", AppMux: http.NewServeMux(),
		loginPage: ProviderLoginPage, form: ProviderLoginForm("demo@example.com"), jkt: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := nodeop.Start(ctx, nodeop.Config{
		Host: o.Host, Port: recLn.Addr().(*net.TCPAddr).Port, ListenPort: behindPort,
		AppOrigins: []string{appURL}, AccessTokenTTL: o.TokenLifetime, Output: nodeop.LogWriter(&tokenLog{t: t, s: s}), LogTokens: o.LogTokens,
	})
	if err != nil {
		cancel()
		recLn.Close()
		t.Fatalf("starting node-oidc-provider: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop(); cancel() })
	s.Rec = &Recorder{next: nodeop.ProxyTo(behindPort)}
	Serve(t, recLn, s.Rec)
	s.AppMux.Handle("/", AppForProvider(t, p.Issuer(), dist, s.PagePath))
	Serve(t, appLn, s.AppMux)
	s.Issuer, s.Browser = p.Issuer(), chrome.Start(t)
	return s
}

// tokenLog passes the provider's lines on to the test log and keeps the
// DPoP key of each token it logs.
type tokenLog struct {
	t testing.TB
	s *Server
}

func (l *tokenLog) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.t.Log(line)
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if tok, ok := nodeop.ParseAccessTokenLine(line); ok {
		l.s.jkt[tok.Value] = tok.JKT
	}
	if tok, jkt, ok := nodeop.ParseRefreshTokenLine(line); ok {
		l.s.jkt[tok] = jkt
	}
}

// IsProvider reports whether s is node-oidc-provider.
func (s *Server) IsProvider() bool { return s.Name == KindProvider }

// TokenJKT is the DPoP key thumbprint node-oidc-provider logged for a
// token it issued (ServerOptions.LogTokens).
func (s *Server) TokenJKT(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	jkt, ok := s.jkt[token]
	return jkt, ok
}

// ClientJS creates a client for s with its ClientDefaults and extra
// options; its redirectUri is the test page.
func (s *Server) ClientJS(extra string) string {
	return CreateClientJS(fmt.Sprintf("domain: %q", s.Issuer), `clientId: "spa"`, "debug: true",
		fmt.Sprintf("redirectUri: %q", s.AppURL+s.PagePath), s.ClientDefaults, extra)
}

// OpenPage opens a tab on the test page and waits for the SDK.
func (s *Server) OpenPage(t *testing.T) *chrome.Tab {
	t.Helper()
	return OpenSDKPage(t, s.Browser, s.AppURL+s.PagePath, 20*time.Second)
}

// Login logs the demo user in through the SDK's interactive login
// (loginWithRedirect, the server's form, handleRedirectCallback) in a new
// tab. Afterwards window.client is a client made with ClientJS(extra) that
// records its "renewed" events in window.renewed, and window.loginResult
// is the callback's result.
func (s *Server) Login(t *testing.T, extra string) *chrome.Tab {
	t.Helper()
	tab := s.OpenPage(t)
	// Not awaited, and the navigation may end the evaluation first.
	err := tab.Eval(`(async () => { window.client = await `+s.ClientJS(extra)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf("location.origin === %q && %s", s.Issuer, s.loginPage), 30*time.Second); err != nil {
		t.Fatalf("the login form: %v\n%s", err, strings.Join(tab.Console(), "\n"))
	}
	if err := tab.Eval(s.form, nil); err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && document.readyState !== "loading" && window.silentauth && silentauth.createClient`, s.AppURL), 30*time.Second); err != nil {
		t.Fatalf("back at the app: %v", err)
	}
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+s.ClientJS(extra)+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		window.loginResult = await client.handleRedirectCallback();
		return true })()`, nil)
	return tab
}

// PathCounts counts a server's requests by path.
type PathCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// Count counts r.
func (c *PathCounts) Count(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.URL.Path]++
}

// Get is how many requests for path were counted.
func (c *PathCounts) Get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

// All is every path's count.
func (c *PathCounts) All() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// Reset forgets the counts.
func (c *PathCounts) Reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

// Pages is an app that serves the built SDK under /silentauth/ as plain
// files (no CSP of its own, unlike the demo app) and, at other paths, the
// pages a test chooses, each under the CSP the test gives. It counts the
// downloads of silentauth.wasm. Put it on the app's origin with
// Options.App.
type Pages struct {
	files http.Handler
	mu    sync.Mutex
	pages map[string]page
	wasm  int
}

// page is an HTML body served under a CSP ("" for none).
type page struct{ csp, html string }

// NewPages serves the SDK built in dist and no page yet.
func NewPages(dist string) *Pages {
	return &Pages{files: http.StripPrefix("/silentauth/", http.FileServer(http.Dir(dist))), pages: map[string]page{}}
}

// Serve serves body (an HTML fragment) at path from now on, under csp
// ("" for no policy).
func (p *Pages) Serve(path, csp, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages[path] = page{csp: csp, html: body}
}

// WasmDownloads is how many times silentauth.wasm was asked for.
func (p *Pages) WasmDownloads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wasm
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/silentauth/") {
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			p.mu.Lock()
			p.wasm++
			p.mu.Unlock()
		}
		p.files.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	pg, ok := p.pages[r.URL.Path]
	p.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if pg.csp != "" {
		w.Header().Set("Content-Security-Policy", pg.csp)
	}
	fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>e2e page</title></head><body>`+pg.html+`</body></html>`)
}

// AuthorizeCounts counts the requests a server gets as they arrive, before
// they are answered: all of them, and its authorization requests with
// prompt=none (silent) and without (each a trip to the login page). Put it
// in front of the tenant with Options.TenantMiddleware.
type AuthorizeCounts struct {
	mu                       sync.Mutex
	all, silent, interactive int
}

// Wrap counts each request to next.
func (c *AuthorizeCounts) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.all++
		if r.URL.Path == "/authorize" {
			if r.URL.Query().Get("prompt") == "none" {
				c.silent++
			} else {
				c.interactive++
			}
		}
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Get is the silent and interactive authorization requests, and all the
// requests, counted so far.
func (c *AuthorizeCounts) Get() (silent, interactive, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.silent, c.interactive, c.all
}
