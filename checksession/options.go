package checksession

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/silentauth/silentauth/checksession/plainjson"
)

// Defaults, as API.md states them.
const (
	defaultResponseType      = "code"
	defaultScope             = "openid profile email"
	defaultTimeout           = 60 * time.Second
	defaultLeeway            = 60 * time.Second
	defaultRenewBeforeExpiry = 60 * time.Second
	defaultMinValidity       = 5 * time.Second
	maxLeeway                = 300 * time.Second
	// minSessionPoll is the poll interval under which a warning is logged:
	// servers rate-limit /authorize.
	minSessionPoll = 60 * time.Second
)

// Options configures a Client. Field names mirror the JS options
// (clientId → ClientID, timeoutInSeconds → Timeout). Zero values take the
// defaults; the pointer fields are pointers because their zero is a valid
// choice that differs from the default.
type Options struct {
	Domain       string // authorization server base URL; https:// is assumed without a scheme
	ClientID     string
	RedirectURI  string // default: the page's origin
	ResponseType string // "code" (default), "id_token token", "id_token", "token"
	Scope        string // default "openid profile email"
	Audience     string

	Timeout           time.Duration  // default 60 s
	Leeway            *time.Duration // default 60 s; 0 to 300 s
	AutoRenew         *bool          // default true
	RenewBeforeExpiry *time.Duration // default 60 s
	// MinValidity is how long a cached access token must stay valid for
	// GetTokenSilently to answer with it without waiting; default 5 s.
	MinValidity *time.Duration

	// Endpoint overrides; empty means from discovery, else Auth0's paths.
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	JWKSURI               string
	EndSessionEndpoint    string

	SessionCheckInterval time.Duration // 0: off
	Debug                bool

	// APIOrigins are the origins client.fetch may send the access token to;
	// empty means the page's origin only.
	APIOrigins []string
	// UseRefreshTokens asks for offline_access and renews with the
	// refresh_token grant instead of the iframe (see API.md, Refresh tokens).
	UseRefreshTokens bool
	// RefreshTokensNoFallback turns off the iframe fallback that
	// UseRefreshTokens otherwise keeps (JS useRefreshTokensFallback: false):
	// without a refresh token, or on invalid_grant, the error then ends the
	// session. Negated so that the zero Options keep API.md's default.
	RefreshTokensNoFallback bool
	// RefreshTokenStorage is where a refresh token is kept besides the Go
	// runtime: RefreshTokenStorageMemory (the default, "") or
	// RefreshTokenStorageLocal (encrypted in localStorage).
	RefreshTokenStorage string
	// UseDPoP binds the tokens to a key that never leaves the browser (DPoP,
	// RFC 9449; see API.md, DPoP). The browser must implement
	// platform.DPoPKeys.
	UseDPoP bool

	// MarkerKey is the localStorage key of the signed-in marker; empty
	// derives it from Domain and ClientID. The JS loader sets it, so that
	// the loader and Go read one entry.
	MarkerKey string

	// Logger receives LogDebug lines when Debug is set, and LogWarn lines
	// always.
	Logger func(level LogLevel, line string)
	// OnEvent receives the client's events (EventNames).
	OnEvent func(Event)
}

// The values of Options.RefreshTokenStorage and JS refreshTokenStorage.
const (
	RefreshTokenStorageMemory = "memory"
	RefreshTokenStorageLocal  = "local"
)

// settings is Options after defaults and validation: what the client runs on.
type settings struct {
	Options
	domain            *url.URL
	timeout           time.Duration
	leeway            time.Duration
	autoRenew         bool
	renewBeforeExpiry time.Duration
	minValidity       time.Duration
	apiOrigins        []string // serialised origins, as URL.origin gives them
}

var responseTypes = map[string]bool{"code": true, "id_token token": true, "id_token": true, "token": true}

// normalizeResponseType accepts the space-separated values in any order
// ("token id_token" is "id_token token").
func normalizeResponseType(s string) string {
	parts := strings.Fields(s)
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// validate applies defaults and checks every option; an error carries the
// field at fault (Error.Option), which package wire names for JS.
func (o Options) validate(pageOrigin string) (*settings, error) {
	s := &settings{Options: o}
	if strings.TrimSpace(o.Domain) == "" {
		return nil, invalidOption("Domain", "is required")
	}
	d, err := parseDomain(o.Domain)
	if err != nil {
		return nil, invalidOption("Domain", err.Error())
	}
	s.domain = d
	if strings.TrimSpace(o.ClientID) == "" {
		return nil, invalidOption("ClientID", "is required")
	}
	if o.ResponseType == "" {
		s.ResponseType = defaultResponseType
	}
	s.ResponseType = normalizeResponseType(s.ResponseType)
	if !responseTypes[s.ResponseType] {
		return nil, invalidOption("ResponseType", `must be "code", "id_token token", "id_token" or "token", got "`+o.ResponseType+`"`)
	}
	if s.Scope == "" {
		s.Scope = defaultScope
	}
	if s.RedirectURI == "" {
		s.RedirectURI = pageOrigin
	}
	if err := checkRedirectOrigin(s.RedirectURI, pageOrigin); err != nil {
		return nil, err
	}
	s.timeout = defaultTimeout
	if o.Timeout < 0 {
		return nil, invalidOption("Timeout", "must not be negative")
	}
	if o.Timeout > 0 {
		s.timeout = o.Timeout
	}
	s.leeway = defaultLeeway
	if o.Leeway != nil {
		if *o.Leeway < 0 || *o.Leeway > maxLeeway {
			return nil, invalidOption("Leeway", "must be between 0 and 300 seconds")
		}
		s.leeway = *o.Leeway
	}
	s.autoRenew = o.AutoRenew == nil || *o.AutoRenew
	s.renewBeforeExpiry = defaultRenewBeforeExpiry
	if o.RenewBeforeExpiry != nil {
		if *o.RenewBeforeExpiry < 0 {
			return nil, invalidOption("RenewBeforeExpiry", "must not be negative")
		}
		s.renewBeforeExpiry = *o.RenewBeforeExpiry
	}
	s.minValidity = defaultMinValidity
	if o.MinValidity != nil {
		if *o.MinValidity < 0 {
			return nil, invalidOption("MinValidity", "must not be negative")
		}
		s.minValidity = *o.MinValidity
	}
	if o.UseRefreshTokens && s.ResponseType != "code" {
		return nil, invalidOption("UseRefreshTokens", `needs ResponseType "code": refresh tokens come only from the token endpoint, got `+quote(s.ResponseType))
	}
	if o.UseDPoP && s.ResponseType != "code" {
		return nil, invalidOption("UseDPoP", `needs ResponseType "code": only the token endpoint binds tokens to the key, got `+quote(s.ResponseType))
	}
	switch o.RefreshTokenStorage {
	case "":
		s.RefreshTokenStorage = RefreshTokenStorageMemory
	case RefreshTokenStorageMemory, RefreshTokenStorageLocal:
	default:
		return nil, invalidOption("RefreshTokenStorage", `must be "memory" or "local", got `+quote(o.RefreshTokenStorage))
	}
	if o.SessionCheckInterval < 0 {
		return nil, invalidOption("SessionCheckInterval", "must not be negative")
	}
	for _, ep := range []struct{ field, value string }{
		{"Issuer", o.Issuer}, {"AuthorizationEndpoint", o.AuthorizationEndpoint},
		{"TokenEndpoint", o.TokenEndpoint}, {"JWKSURI", o.JWKSURI}, {"EndSessionEndpoint", o.EndSessionEndpoint},
	} {
		if ep.value == "" {
			continue
		}
		check := checkEndpoint
		if ep.field == "Issuer" {
			check = checkIssuer
		}
		if problem := check(ep.value); problem != "" {
			return nil, invalidOption(ep.field, problem)
		}
	}
	s.apiOrigins = []string{pageOrigin}
	if o.APIOrigins != nil {
		s.apiOrigins = make([]string, 0, len(o.APIOrigins))
		for _, raw := range o.APIOrigins {
			norm, problem := parseOrigin(raw)
			if problem != "" {
				return nil, invalidOption("APIOrigins", "entry "+quote(raw)+" "+problem)
			}
			s.apiOrigins = append(s.apiOrigins, norm)
		}
	}
	return s, nil
}

// parseDomain turns "login.example.com" or "https://login.example.com/" into a
// base URL without a trailing slash.
func parseDomain(domain string) (*url.URL, error) {
	d := strings.TrimSpace(domain)
	if !strings.Contains(d, "://") {
		d = "https://" + d
	}
	u, err := url.Parse(d)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, errorString("has no host: " + quote(domain))
	}
	if _, problem := parseEndpoint(d); problem != "" {
		return nil, errorString(problem)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errorString("must be a base URL without query, fragment or credentials: " + quote(domain))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// checkRedirectOrigin is auth0.js's origin_mismatch rule: web_message posts to
// the redirect URI's origin, so any other origin can only time out.
func checkRedirectOrigin(redirectURI, pageOrigin string) error {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Host == "" {
		return invalidOption("RedirectURI", "must be an absolute URL, got "+quote(redirectURI))
	}
	if origin(u) != pageOrigin {
		return optionError(ErrOriginMismatch, "RedirectURI", quote(redirectURI)+
			" is not on the page's origin "+quote(pageOrigin)+": the server's answer would never reach this page")
	}
	return nil
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

type errorString string

func (e errorString) Error() string { return string(e) }

func quote(s string) string { return string(plainjson.AppendString(nil, s)) }
