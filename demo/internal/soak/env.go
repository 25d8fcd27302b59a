// Package soak measures silent renewal the way a user meets it: several
// tabs of one origin, each with a client on the same configuration, call
// getTokenSilently every 250 ms against node-oidc-provider for a minute or
// more, while the provider is slowed down or taken away and tabs go offline
// or are frozen. Run records what every call answered, every event, and
// every request and access token the provider saw; Compute turns that into
// the figures that the e2e test asserts on (counts) and make bench prints
// (availability, renewals per token lifetime).
//
// It drives only the public JS API (createClient, getTokenSilently, on,
// silentauth.stats) and the provider from outside, through a nodeop.Gate.
package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// Config is the client configuration every tab shares and the provider's
// token lifetime.
type Config struct {
	Tabs        int           // 3
	TokenTTL    time.Duration // 8 s
	RenewBefore int           // renewBeforeExpiryInSeconds, 3
	MinValidity int           // minValidityInSeconds, 1
	Timeout     int           // timeoutInSeconds, 5
	Debug       bool          // the clients' debug option
	// Host is the issuer's host name: "localhost" (default, the app's site)
	// or "127.0.0.1", another site, where the provider's session cookie
	// stays out of the silent iframe as if third-party cookies were blocked.
	Host string
	// UseRefreshTokens is the clients' useRefreshTokens option.
	UseRefreshTokens bool
	// Engine is the clients' engine option, "page" or "shared-worker";
	// "" is the placement the e2e pass names (e2eenv.Engine).
	Engine string
}

// DefaultConfig is issue 10's scenario.
func DefaultConfig() Config {
	return Config{Tabs: 3, TokenTTL: 8 * time.Second, RenewBefore: 3, MinValidity: 1, Timeout: 5, Debug: true}
}

// callbackPath is a redirect URI provider.mjs registers for client "spa";
// the app serves the test page there.
const callbackPath = "/callback"

// Env is a gated provider, the app, one browser and Config.Tabs tabs, each
// with window.client signed in as one user.
type Env struct {
	Config  Config
	Gate    *nodeop.Gate
	Issuer  string
	AppURL  string
	Browser *chrome.Browser
	Tabs    []*chrome.Tab
	// MinValidityDropped is true when createClient rejected
	// minValidityInSeconds as unknown and the clients run without it.
	MinValidityDropped bool
}

// Start brings up the provider behind a Gate, the app and Chromium, logs
// the user in interactively in the first tab and opens the others. It
// skips the test when node or node_modules are missing, unless CI is set.
func Start(t testing.TB, cfg Config) *Env {
	t.Helper()
	begin := time.Now()
	dist := e2eenv.BuiltDistDir(t)
	al, appURL := e2eenv.Listen(t, "localhost")
	ctx, cancel := context.WithCancel(context.Background())
	p, gate, err := nodeop.StartGated(ctx, nodeop.Config{
		Host: cfg.Host, AppOrigins: []string{appURL}, AccessTokenTTL: cfg.TokenTTL, Output: nodeop.LogWriter(t),
	})
	if errors.Is(err, nodeop.ErrNodeModulesMissing) || errors.Is(err, nodeop.ErrNodeMissing) {
		cancel()
		if os.Getenv("CI") == "" {
			t.Skipf("no node-oidc-provider: %v", err)
		}
	}
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop()
		_ = gate.Close()
		cancel()
	})
	e2eenv.Serve(t, al, e2eenv.AppForProvider(t, p.Issuer(), dist, callbackPath))

	env := &Env{Config: cfg, Gate: gate, Issuer: p.Issuer(), AppURL: appURL, Browser: chrome.Start(t)}
	first := env.openTab(t)
	env.login(t, first)
	env.Tabs = append(env.Tabs, first)
	for len(env.Tabs) < cfg.Tabs {
		tab := env.openTab(t)
		tab.MustEval(`(async () => { window.client = await `+env.clientJS()+`; return true })()`, nil)
		env.Tabs = append(env.Tabs, tab)
	}
	for i, tab := range env.Tabs {
		tab.MustEval(recorderJS, nil)
		// What an application does on load: learn whether there is a session.
		if i > 0 {
			tab.MustEval(`client.checkSession().then(() => true)`, nil)
		}
	}
	t.Logf("soak: provider %s (TTL %v), app %s, %d tabs signed in after %v, engine %s; minValidityInSeconds %s",
		env.Issuer, cfg.TokenTTL, appURL, len(env.Tabs), time.Since(begin).Round(100*time.Millisecond), env.engine(),
		map[bool]string{true: "dropped (createClient rejects it)", false: "passed"}[env.MinValidityDropped])
	return env
}

func (e *Env) openTab(t testing.TB) *chrome.Tab {
	t.Helper()
	return e2eenv.OpenSDKPage(t, e.Browser, e.AppURL+e2eenv.TestPagePath, 30*time.Second)
}

// engine is where the clients run their engine.
func (e *Env) engine() string {
	if e.Config.Engine != "" {
		return e.Config.Engine
	}
	return e2eenv.Engine()
}

// clientJS creates the shared configuration's client.
func (e *Env) clientJS() string {
	opts := []string{
		fmt.Sprintf("domain: %q", e.Issuer), `clientId: "spa"`, `responseType: "code"`, "assumeSignedOut: false",
		fmt.Sprintf("redirectUri: %q", e.AppURL+callbackPath),
		fmt.Sprintf("timeoutInSeconds: %d", e.Config.Timeout),
		fmt.Sprintf("renewBeforeExpiryInSeconds: %d", e.Config.RenewBefore),
		fmt.Sprintf("debug: %t", e.Config.Debug),
		fmt.Sprintf("engine: %q", e.engine()),
	}
	if e.Config.UseRefreshTokens {
		opts = append(opts, "useRefreshTokens: true")
	}
	if !e.MinValidityDropped {
		opts = append(opts, fmt.Sprintf("minValidityInSeconds: %d", e.Config.MinValidity))
	}
	return e2eenv.CreateClientJS(opts...)
}

// detectMinValidity creates a client once with minValidityInSeconds; if
// createClient rejects the option as unknown, the clients go without it.
func (e *Env) detectMinValidity(t testing.TB, tab *chrome.Tab) {
	t.Helper()
	var r struct {
		OK          bool   `json:"ok"`
		Error       string `json:"error"`
		Description string `json:"desc"`
	}
	tab.MustEval(`(async () => {
		try { const c = await `+e.clientJS()+`; c.destroy(); return { ok: true } }
		catch (err) { return { ok: false, error: err.error, desc: err.error_description } }
	})()`, &r)
	switch {
	case r.OK:
	case r.Error == "invalid_configuration" && strings.Contains(r.Description, "minValidityInSeconds"):
		e.MinValidityDropped = true
		t.Logf("soak: createClient rejects minValidityInSeconds (%s); the clients run without it", r.Description)
	default:
		t.Fatalf("createClient: %s: %s", r.Error, r.Description)
	}
}

// login signs the user in through the SDK: loginWithRedirect, the
// provider's built-in sign-in form, handleRedirectCallback at /callback.
func (e *Env) login(t testing.TB, tab *chrome.Tab) {
	t.Helper()
	e.detectMinValidity(t, tab)
	// Not awaited to the end: the navigation it starts ends the evaluation.
	err := tab.Eval(`(async () => { window.client = await `+e.clientJS()+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	form := fmt.Sprintf(`location.origin === %q && %s`, e.Issuer, e2eenv.ProviderLoginPage)
	if err := tab.WaitFor(form, 30*time.Second); err != nil {
		t.Fatalf("the provider's sign-in form: %v", err)
	}
	err = tab.Eval(e2eenv.ProviderLoginForm("soak-user"), nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	back := fmt.Sprintf(`location.origin === %q && location.pathname === %q && document.readyState !== "loading" && window.silentauth && silentauth.createClient`, e.AppURL, callbackPath)
	if err := tab.WaitFor(back, 30*time.Second); err != nil {
		t.Fatalf("back at the app after the sign-in form: %v", err)
	}
	tab.MustEval(`(async () => { window.client = await `+e.clientJS()+`; await client.handleRedirectCallback(); return true })()`, nil)
}
