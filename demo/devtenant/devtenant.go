// Package devtenant is an offline OpenID Provider for development and tests
// that answers in Auth0's dialect: /authorize with response_mode=web_message,
// prompt=none errors as Auth0 words them, /oauth/token with PKCE, /v2/logout,
// and a small protected API.
//
// It is a DEVELOPMENT server. Users, passwords, sessions and keys live in
// memory, the demo passwords are printed on the login page, and /dev/ lets any
// caller switch faults on. The caller must bind it to a loopback address only
// (127.0.0.1 or ::1), never to a public interface.
package devtenant

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie names the tenant's login session cookie.
const SessionCookie = sessionCookie

// Default lifetimes, chosen so that renewals are visible in a short demo.
const (
	DefaultTokenLifetime   = 60 * time.Second
	DefaultSessionLifetime = time.Hour
	// codeLifetime bounds how long an authorization code may wait for its exchange.
	codeLifetime = 60 * time.Second
	// transactionLifetime bounds how long a login page stays usable.
	transactionLifetime = 15 * time.Minute
)

// DefaultPassword is the password of every default user.
const DefaultPassword = "demo"

// MFACode is the one-time code that the MFA step accepts.
const MFACode = "123456"

// Config describes a tenant. Zero values take the defaults documented on each field.
type Config struct {
	// Issuer is the tenant's base URL without a trailing slash, for example
	// "http://localhost:3000". The iss claim is Issuer + "/", as Auth0 spells it.
	Issuer string
	// TokenLifetime is expires_in for access tokens and the lifetime of ID
	// tokens (default 60s).
	TokenLifetime time.Duration
	// SessionLifetime is Auth0's "require log in after": a session older than
	// this answers login_required (default 1h).
	SessionLifetime time.Duration
	// RefreshTokenLifetime is how long a login's rotating refresh tokens
	// work, counted from the login: rotation never extends it (default 30 days).
	RefreshTokenLifetime time.Duration
	// RefreshTokenIdleLifetime ends a login's refresh tokens when none was
	// used for this long (default 15 days).
	RefreshTokenIdleLifetime time.Duration
	// AppOrigins are the origins of the demo application, such as
	// "http://localhost:8080". The default clients accept them as callbacks
	// (with and without a trailing slash), web origins and logout URLs.
	AppOrigins []string
	// Clients replaces the default clients "spa" and "third-party-spa".
	Clients []Client
	// Users replaces the default users (see DefaultUsers).
	Users []User
	// API is the default audience of access tokens and the audience that
	// /api/private accepts (default Issuer + "/api/").
	API string
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Now replaces the clock, so tests can expire sessions without sleeping.
	Now func() time.Time
}

// Client is a registered application.
type Client struct {
	ID   string
	Name string
	// Secret makes the client confidential; public clients (no secret) must use PKCE.
	Secret string
	// Callbacks are the allowed redirect_uri values, matched exactly.
	Callbacks []string
	// WebOrigins are Auth0's "Allowed Web Origins": origins allowed to receive
	// web_message responses and to call /oauth/token and /api/private from a browser.
	WebOrigins []string
	// LogoutURLs are the allowed returnTo values of /v2/logout, matched exactly.
	LogoutURLs []string
	// ThirdParty clients need the user's consent to their scopes.
	ThirdParty bool
	// SigningAlg signs this client's ID tokens: "RS256" (default) or "ES256".
	SigningAlg string
}

// MFAPolicy says when a user must pass the MFA step.
type MFAPolicy int

const (
	// MFANone never asks for a second factor.
	MFANone MFAPolicy = iota
	// MFAAlways asks on every authentication, so prompt=none always fails.
	MFAAlways
	// MFAOncePerSession asks once and records it in the session (the seed's rule).
	MFAOncePerSession
)

// User is a demo account.
type User struct {
	Email    string
	Password string
	Name     string
	// Sub is the subject; default "auth0|" followed by a hash of the email.
	Sub string
	MFA MFAPolicy
	// PendingRedirect stands for a redirect rule: every authentication must
	// pass through an interactive page, so prompt=none answers interaction_required.
	PendingRedirect bool
	// ExtraClaims are added to this user's ID tokens (never replacing the
	// standard ones), as an Auth0 action would: tests use them to send
	// hostile claim names such as "__proto__".
	ExtraClaims map[string]any
}

// DefaultUsers are the accounts used when Config.Users is empty.
func DefaultUsers() []User {
	return []User{
		{Email: "demo@example.com", Password: DefaultPassword, Name: "Demo User"},
		{Email: "mfa-always@example.com", Password: DefaultPassword, Name: "MFA Always", MFA: MFAAlways},
		{Email: "mfa-once@example.com", Password: DefaultPassword, Name: "MFA Once", MFA: MFAOncePerSession},
		{Email: "interaction@example.com", Password: DefaultPassword, Name: "Redirect Rule", PendingRedirect: true},
	}
}

// DefaultClients are the applications used when Config.Clients is empty.
func DefaultClients(appOrigins []string) []Client {
	var callbacks, origins []string
	for _, o := range appOrigins {
		o = strings.TrimSuffix(o, "/")
		callbacks = append(callbacks, o, o+"/")
		origins = append(origins, o)
	}
	return []Client{
		{ID: "spa", Name: "silentauth demo", Callbacks: callbacks, WebOrigins: origins, LogoutURLs: callbacks},
		{ID: "third-party-spa", Name: "Third-Party Demo", Callbacks: callbacks, WebOrigins: origins, LogoutURLs: callbacks, ThirdParty: true},
	}
}

// Faults make the tenant misbehave on purpose, so that tests can watch the SDK cope.
type Faults struct {
	// Delay holds every /authorize answer back this long.
	Delay time.Duration
	// AuthorizeStatus500 answers /authorize with a 500 page that posts nothing.
	AuthorizeStatus500 bool
	// NoMessage answers /authorize with a 200 page that posts nothing.
	NoMessage bool
	// BadSignature, WrongNonce, WrongAudience and ExpiredIDToken tamper with
	// every ID token issued while they are set.
	BadSignature   bool
	WrongNonce     bool
	WrongAudience  bool
	ExpiredIDToken bool
	// DiscoveryNotFound answers /.well-known/openid-configuration with 404.
	DiscoveryNotFound bool
	// NoWebMessageInDiscovery leaves web_message out of response_modes_supported.
	NoWebMessageInDiscovery bool
	// JWKSDown answers /.well-known/jwks.json with 503.
	JWKSDown bool
	// TokenLifetime, when positive, overrides Config.TokenLifetime.
	TokenLifetime time.Duration
}

// Stats counts requests, for tests that assert how often the SDK called.
type Stats struct {
	Authorize           int `json:"authorize"`
	AuthorizePromptNone int `json:"authorize_prompt_none"`
	TokenExchanges      int `json:"token_exchanges"` // authorization_code grants
	RefreshGrants       int `json:"refresh_grants"`  // refresh_token grants, refused ones included
	RefreshReuses       int `json:"refresh_reuses"`  // rotated refresh tokens presented again (each revoked a family)
	Discovery           int `json:"discovery"`
	JWKS                int `json:"jwks"`
	Logins              int `json:"logins"`
	Revocations         int `json:"revocations"` // RFC 7009 requests, whatever they named
}

// Tenant is the authorization server; it is an http.Handler.
type Tenant struct {
	issuer   string // base URL, no trailing slash
	api      string
	tokenTTL time.Duration
	sessTTL  time.Duration
	log      *slog.Logger
	now      func() time.Time
	clients  map[string]*Client
	users    map[string]*User // by lower-case email
	mux      *http.ServeMux

	// refresh tokens: absolute and idle lifetimes
	rtTTL, rtIdleTTL time.Duration

	mu       sync.Mutex
	faults   Faults
	stats    Stats
	keys     keySet
	sessions map[string]*session
	txs      map[string]*transaction
	codes    map[string]*authCode
	grants   map[string]bool // user sub + client + scope → consented
	refresh  map[string]*refreshToken
	dpop     dpopServer
}

// New builds a tenant with fresh signing keys.
func New(cfg Config) (*Tenant, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("devtenant: Issuer must be an absolute http(s) URL, got %q", cfg.Issuer)
	}
	t := &Tenant{
		issuer:   strings.TrimSuffix(cfg.Issuer, "/"),
		api:      cfg.API,
		tokenTTL: cfg.TokenLifetime,
		sessTTL:  cfg.SessionLifetime,
		log:      cfg.Logger,
		now:      cfg.Now,
		clients:  map[string]*Client{},
		users:    map[string]*User{},
	}
	t.rtTTL, t.rtIdleTTL = cfg.RefreshTokenLifetime, cfg.RefreshTokenIdleLifetime
	if t.api == "" {
		t.api = t.issuer + "/api/"
	}
	if t.tokenTTL <= 0 {
		t.tokenTTL = DefaultTokenLifetime
	}
	if t.sessTTL <= 0 {
		t.sessTTL = DefaultSessionLifetime
	}
	if t.rtTTL <= 0 {
		t.rtTTL = DefaultRefreshTokenLifetime
	}
	if t.rtIdleTTL <= 0 {
		t.rtIdleTTL = DefaultRefreshTokenIdleLifetime
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	clients := cfg.Clients
	if len(clients) == 0 {
		clients = DefaultClients(cfg.AppOrigins)
	}
	for i := range clients {
		c := clients[i]
		if c.ID == "" {
			return nil, errors.New("devtenant: a client has no ID")
		}
		switch c.SigningAlg {
		case "":
			c.SigningAlg = "RS256"
		case "RS256", "ES256":
		default:
			return nil, fmt.Errorf("devtenant: client %q: SigningAlg must be RS256 or ES256, got %q", c.ID, c.SigningAlg)
		}
		for _, o := range c.WebOrigins {
			if originOf(o) != strings.TrimSuffix(o, "/") {
				return nil, fmt.Errorf("devtenant: client %q: web origin %q must be a bare origin", c.ID, o)
			}
		}
		t.clients[c.ID] = &c
	}
	users := cfg.Users
	if len(users) == 0 {
		users = DefaultUsers()
	}
	for i := range users {
		usr := users[i]
		if usr.Sub == "" {
			h := sha256.Sum256([]byte(strings.ToLower(usr.Email)))
			usr.Sub = "auth0|" + base64.RawURLEncoding.EncodeToString(h[:12])
		}
		if usr.Name == "" {
			usr.Name = usr.Email
		}
		t.users[strings.ToLower(usr.Email)] = &usr
	}
	if err := t.keys.rotate(false); err != nil {
		return nil, err
	}
	t.resetState()
	t.routes()
	return t, nil
}

func (t *Tenant) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/.well-known/openid-configuration", t.handleDiscovery)
	m.HandleFunc("/.well-known/jwks.json", t.handleJWKS)
	m.HandleFunc("/authorize", t.handleAuthorize)
	m.HandleFunc("/u/login", t.handleLogin)
	m.HandleFunc("/u/mfa", t.handleMFA)
	m.HandleFunc("/u/consent", t.handleConsent)
	m.HandleFunc("/u/rule", t.handleRule)
	m.HandleFunc("/oauth/token", t.handleToken)
	m.HandleFunc("/userinfo", t.handleUserinfo)
	m.HandleFunc("/v2/logout", t.handleLogout)
	m.HandleFunc("/oauth/revoke", t.handleRevoke)
	m.HandleFunc("/api/private", t.handlePrivateAPI)
	m.Handle("/dev/faults", t.devOnly(t.handleDevFaults))
	m.Handle("/dev/stats", t.devOnly(t.handleDevStats))
	m.Handle("POST /dev/rotate-keys", t.devOnly(t.handleDevRotate))
	m.Handle("POST /dev/reset", t.devOnly(t.handleDevAction(t.Reset)))
	m.Handle("POST /dev/end-sessions", t.devOnly(t.handleDevAction(t.EndAllSessions)))
	m.Handle("POST /dev/expire-sessions", t.devOnly(t.handleDevAction(t.ExpireSessions)))
	m.Handle("POST /dev/login", t.devOnly(t.handleDevLogin))
	m.HandleFunc("/{$}", t.handleHome)
	t.mux = m
}

// ServeHTTP answers every endpoint of the tenant, but only for a Host that
// names it: a page on another name that DNS rebinding points at this machine
// must not read the tenant's answers (tokens, userinfo, the login pages) as
// its own origin's.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !t.ownHost(r.Host) {
		http.Error(w, "Host "+strconv.Quote(r.Host)+" is not this tenant (localhost, 127.0.0.1, [::1] or the issuer's host)", http.StatusMisdirectedRequest)
		return
	}
	t.mux.ServeHTTP(w, r)
}

// Issuer is the iss claim of the tokens this tenant signs (base URL + "/").
func (t *Tenant) Issuer() string { return t.issuer + "/" }

// API is the default audience of access tokens.
func (t *Tenant) API() string { return t.api }

// SetFaults replaces every fault switch at once; Faults{} switches all off.
func (t *Tenant) SetFaults(f Faults) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = f
}

// Faults reports the current fault switches.
func (t *Tenant) Faults() Faults {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.faults
}

// Stats reports the request counters since New or the last Reset.
func (t *Tenant) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// RotateKeys makes a new RSA and a new EC key and signs with them from now on.
// With keepOld the JWKS lists the previous keys too (a graceful rotation);
// without, only the new ones (tokens already issued stop verifying).
func (t *Tenant) RotateKeys(keepOld bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keys.rotate(keepOld)
}

// EndAllSessions deletes every session, as if each user had logged out, and
// revokes every refresh token with them.
func (t *Tenant) EndAllSessions() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sessions = map[string]*session{}
	t.revokeSessionLocked("")
}

// SignIn starts a login session for the user with this email, as the login
// form (and any MFA step) would, and returns the value of the session
// cookie (SessionCookie) that a browser must carry to be signed in. Tests
// of applications use it, through POST /dev/login, to skip the form.
func (t *Tenant) SignIn(email string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[strings.ToLower(strings.TrimSpace(email))]
	if u == nil {
		return "", fmt.Errorf("no user %q", email)
	}
	now := t.now()
	s := &session{id: randomID(), user: u, authTime: now, expiresAt: now.Add(t.sessTTL), mfaDone: true}
	t.sessions[s.id] = s
	return s.id, nil
}

// ExpireSessions moves every session past its lifetime; they answer
// login_required as a session older than SessionLifetime would. Refresh
// tokens keep working (their lifetimes are their own): this is how tests make
// the iframe fail while refresh tokens still renew.
func (t *Tenant) ExpireSessions() {
	t.mu.Lock()
	defer t.mu.Unlock()
	past := t.now().Add(-time.Second)
	for _, s := range t.sessions {
		s.expiresAt = past
	}
}

// Reset switches faults off and forgets counters, sessions, consents,
// pending logins and codes. Keys stay, so issued tokens still verify.
func (t *Tenant) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetState()
}

func (t *Tenant) resetState() {
	t.faults = Faults{}
	t.stats = Stats{}
	t.sessions = map[string]*session{}
	t.txs = map[string]*transaction{}
	t.codes = map[string]*authCode{}
	t.grants = map[string]bool{}
	t.refresh = map[string]*refreshToken{}
}

// tokenLifetime is the configured lifetime unless a fault overrides it. Caller holds t.mu.
func (t *Tenant) tokenLifetimeLocked() time.Duration {
	if t.faults.TokenLifetime > 0 {
		return t.faults.TokenLifetime
	}
	return t.tokenTTL
}

// originOf returns scheme://host[:port] of an absolute URL, or "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ParseOrigin checks that s is a bare origin, such as "http://localhost:5173",
// as Auth0's Allowed Web Origins want it: a scheme and a host, no path, no
// trailing slash, no query. It returns the origin lower-cased.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q is not an origin: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q is not an origin: want http:// or https://, for example http://localhost:5173", s)
	case u.Host == "" || u.User != nil:
		return "", fmt.Errorf("%q is not an origin: want scheme://host[:port], for example http://localhost:5173", s)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "", fmt.Errorf("%q is not an origin: remove the path, trailing slash, query or fragment (use %q)", s, originOf(s))
	}
	return originOf(s), nil
}
