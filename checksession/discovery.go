package checksession

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// fetchTimeout bounds a shared fetch (discovery, the JWKS, a tab's wait for
// its group). The fetch outlives the caller that started it (others may be
// waiting on it), but not forever.
const fetchTimeout = 30 * time.Second

// serverMetadata is the part of an OpenID Provider's discovery document
// that silentauth uses.
type serverMetadata struct {
	Issuer                           string   `json:"issuer"`
	AuthorizationEndpoint            string   `json:"authorization_endpoint"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	EndSessionEndpoint               string   `json:"end_session_endpoint"`
	RevocationEndpoint               string   `json:"revocation_endpoint"` // RFC 7009: logout revokes the refresh token there
	ResponseModesSupported           []string `json:"response_modes_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	// FromDiscovery is false when the document could not be had and
	// Auth0's paths were assumed.
	FromDiscovery bool `json:"-"`
}

// supportsWebMessage is false only when the server lists its response
// modes and web_message is not among them: then no silent request can work.
func (m *serverMetadata) supportsWebMessage() bool {
	if len(m.ResponseModesSupported) == 0 {
		return true
	}
	for _, mode := range m.ResponseModesSupported {
		if mode == "web_message" {
			return true
		}
	}
	return false
}

// auth0Metadata is Auth0's layout: the fallback where discovery is missing.
func auth0Metadata(domain string) *serverMetadata {
	return &serverMetadata{
		Issuer:                domain + "/",
		AuthorizationEndpoint: domain + "/authorize",
		TokenEndpoint:         domain + "/oauth/token",
		JWKSURI:               domain + "/.well-known/jwks.json",
		EndSessionEndpoint:    domain + "/v2/logout",
	}
}

// overlay applies the explicit endpoint options over m.
func (s *settings) overlay(m *serverMetadata) *serverMetadata {
	out := *m
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&out.Issuer, s.Issuer)
	set(&out.AuthorizationEndpoint, s.AuthorizationEndpoint)
	set(&out.TokenEndpoint, s.TokenEndpoint)
	set(&out.JWKSURI, s.JWKSURI)
	set(&out.EndSessionEndpoint, s.EndSessionEndpoint)
	return &out
}

// overridesComplete reports whether the options name every endpoint, so that
// discovery is not needed at all.
func (s *settings) overridesComplete() bool {
	return s.Issuer != "" && s.AuthorizationEndpoint != "" && s.TokenEndpoint != "" && s.JWKSURI != ""
}

// discoverer fetches the metadata once; concurrent callers wait for the
// fetch in flight, and a failure is not cached so the next call tries again.
type discoverer struct {
	s       *settings
	browser platform.Browser
	log     func(string)

	mu       sync.Mutex
	done     *serverMetadata
	inflight *flight[*serverMetadata]
}

func (d *discoverer) metadata(ctx context.Context) (*serverMetadata, error) {
	d.mu.Lock()
	if m := d.done; m != nil {
		d.mu.Unlock()
		return m, nil
	}
	f := d.inflight
	if f == nil {
		f = newFlight[*serverMetadata]()
		d.inflight = f
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		settle := func(m *serverMetadata, err error) {
			cancel()
			d.mu.Lock()
			d.inflight = nil
			if err == nil {
				d.done = m
			}
			d.mu.Unlock()
			f.finish(m, err)
		}
		goSafe("discovery fetch", func() { settle(d.fetch(fctx)) }, func(err error) { settle(nil, err) })
	}
	d.mu.Unlock()
	return f.wait(ctx)
}

func (d *discoverer) fetch(ctx context.Context) (_ *serverMetadata, err error) {
	defer func() { err = d.s.noteAssumedScheme(err) }()
	domain := d.s.domain.String()
	if d.s.overridesComplete() {
		return d.s.overlay(&serverMetadata{}), nil
	}
	url := domain + "/.well-known/openid-configuration"
	resp, err := d.browser.Fetch(ctx, platform.HTTPRequest{Method: "GET", URL: url})
	if err != nil {
		return nil, newError(string(ErrNetwork), "discovery at "+url+" got no answer ("+err.Error()+
			"): the server is unreachable, the browser is offline, or the server does not allow CORS from this origin")
	}
	if resp.Status == 404 || resp.Status == 403 || resp.Status == 405 {
		d.log("discovery: " + url + " answered " + strconv.Itoa(resp.Status) + "; using Auth0's paths")
		return d.s.overlay(auth0Metadata(domain)), nil
	}
	if resp.Status != 200 {
		return nil, withServerWait(newError(string(ErrServer), "discovery at "+url+" answered HTTP "+strconv.Itoa(resp.Status)),
			resp.Status, resp.Header, time.Now())
	}
	var m serverMetadata
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		return nil, invalidOption("Domain", "discovery at "+url+" is not a JSON discovery document: "+err.Error())
	}
	m.FromDiscovery = true
	if d.s.Issuer == "" && strings.TrimSuffix(m.Issuer, "/") != domain {
		return nil, invalidOption("Domain", "discovery at "+url+" names issuer "+quote(m.Issuer)+
			", which is not this domain; set the issuer option if that is intended")
	}
	out := d.s.overlay(&m)
	if out.AuthorizationEndpoint == "" || out.JWKSURI == "" {
		return nil, invalidOption("Domain", "discovery at "+url+" lacks authorization_endpoint or jwks_uri")
	}
	if err := d.s.checkDiscovered(&m); err != nil {
		return nil, invalidOption("Domain", "discovery at "+url+": "+err.Description)
	}
	return out, nil
}

// noteAssumedScheme adds to a failure to reach a domain given without a
// scheme that https:// was assumed: "localhost:3000" meant for a server
// without TLS fails as if the server were down.
func (s *settings) noteAssumedScheme(err error) error {
	e, ok := err.(*Error)
	if !ok || strings.Contains(s.Options.Domain, "://") {
		return err
	}
	return e.withNote(" (domain " + quote(strings.TrimSpace(s.Options.Domain)) + " has no scheme, so https:// was assumed: " +
		s.domain.String() + "; write the scheme out, http:// being allowed on loopback hosts only)")
}

// checkDiscovered applies the endpoint rule (https, or http on loopback, and
// a clean parse round trip) to every endpoint the document supplies and the
// options do not override: a discovery document is as untrusted as any
// other input, and its authorization_endpoint becomes an iframe's src.
func (s *settings) checkDiscovered(m *serverMetadata) *Error {
	for _, f := range []struct{ field, value, override string }{
		{"issuer", m.Issuer, s.Issuer},
		{"authorization_endpoint", m.AuthorizationEndpoint, s.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint, s.TokenEndpoint},
		{"jwks_uri", m.JWKSURI, s.JWKSURI},
		{"end_session_endpoint", m.EndSessionEndpoint, s.EndSessionEndpoint},
	} {
		if f.value == "" || f.override != "" {
			continue
		}
		check := checkEndpoint
		if f.field == "issuer" {
			check = checkIssuer
		}
		if problem := check(f.value); problem != "" {
			return configError(f.field, problem)
		}
	}
	return nil
}
